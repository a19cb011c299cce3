"""Settings come from the environment and refuse bad values with a message naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "ARCADE_PSEUDONYM_KEY")
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "arcade.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe': use true or false."),
        ({"DEBUG": "false"}, "SECRET_KEY must be set when DEBUG is false."),
        (
            {"DEBUG": "false", "SECRET_KEY": "s3cret"},
            "ARCADE_PSEUDONYM_KEY must be set when DEBUG is false.",
        ),
        ({"ARCADE_CHUNK_STEPS": "lots"}, "ARCADE_CHUNK_STEPS='lots': expected a whole number."),
        ({"ARCADE_CHUNK_STEPS": "0"}, "ARCADE_CHUNK_STEPS='0': must be at least 1."),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL='http://cache:6379': expected redis://"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
    ],
)
def test_it_refuses_bad_settings_with_a_clear_message(env: dict[str, str], message: str) -> None:
    result = start_django(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_it_starts_on_the_embedded_default_with_nothing_set(tmp_path: Path) -> None:
    result = start_django(ARCADE_VAR_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6399/0")
    assert result.returncode == 0, result.stderr


def test_it_creates_the_demo_admin_only_on_the_embedded_default(
    settings: object, db: object
) -> None:
    settings.EMBEDDED = False  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="only on the embedded default"):
        call_command("demo_admin")


def test_it_creates_the_demo_admin_and_prints_its_credentials(
    settings: object, db: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from accounts.models import User

    settings.EMBEDDED = True  # type: ignore[attr-defined]
    settings.DEBUG = True  # type: ignore[attr-defined]
    call_command("demo_admin")
    call_command("demo_admin")  # idempotent
    admin = User.objects.get()
    assert admin.is_superuser and admin.check_password("arcade-demo")
    assert "admin@arcade.local / arcade-demo" in capsys.readouterr().out


def test_it_writes_one_json_object_a_line_with_log_format_json() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); "
            "logging.getLogger('arcade.live').warning('episode ended', extra={'episode': 'e-1'})",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "arcade.settings", "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["severity"] == "WARNING"
    assert (line["logger"], line["message"], line["episode"]) == (
        "arcade.live",
        "episode ended",
        "e-1",
    )
    assert "time" in line and "process" in line


def test_it_refuses_an_unknown_log_format() -> None:
    result = start_django(LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT='xml': expected plain or json." in result.stderr
