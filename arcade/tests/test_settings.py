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


# What production sets (terraform/run.tf and its secrets): DEBUG off, every secret given.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k7Qw-production-like-secret-key-of-fifty-characters-or-more-9xZ",
    "ARCADE_PSEUDONYM_KEY": "pseudonym-key",
    "ARCADE_METRICS_TOKEN": "metrics-token",
    "ALLOWED_HOSTS": "arcade.example.org",
}


def start_django(
    code: str = "import django; django.setup()", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "ARCADE_PSEUDONYM_KEY")
        and not k.startswith(("ARCADE_METRICS", "ARCADE_HSTS", "ARCADE_SSL", "ARCADE_SECURE"))
    }
    return subprocess.run(
        [sys.executable, "-c", code],
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
        (
            {"DEBUG": "false", "SECRET_KEY": "s3cret", "ARCADE_PSEUDONYM_KEY": "p"},
            "ARCADE_METRICS_TOKEN must be set when DEBUG is false",
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


def test_the_demo_admin_line_names_the_port_make_run_serves_on(
    settings: object,
    db: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.EMBEDDED = True  # type: ignore[attr-defined]
    settings.DEBUG = True  # type: ignore[attr-defined]
    monkeypatch.setenv("ARCADE_PORT", "8123")
    call_command("demo_admin")
    assert "(http://127.0.0.1:8123/admin/)" in capsys.readouterr().out


def test_it_writes_one_json_object_a_line_with_log_format_json() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); "
            "logging.getLogger('play.live').warning('episode ended', extra={'episode': 'e-1'})",
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
        "play.live",
        "episode ended",
        "e-1",
    )
    assert "time" in line and "process" in line


def test_it_logs_a_request_error_once_in_development() -> None:
    done = start_django(
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Forbidden (Permission denied): /watch/')",
        DEBUG="true",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Forbidden (Permission denied): /watch/") == 1, done.stderr
    assert "WARNING django.request Forbidden" in done.stderr  # root's format, with its time


def test_it_refuses_an_unknown_log_format() -> None:
    result = start_django(LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT='xml': expected plain or json." in result.stderr


def test_it_serves_metrics_without_a_token_in_production_only_when_told_to() -> None:
    without_token = {**PRODUCTION, "ARCADE_METRICS_TOKEN": ""}
    assert start_django(**without_token).returncode != 0
    public = start_django(**without_token, ARCADE_METRICS_PUBLIC="true")
    assert public.returncode == 0, public.stderr


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; from django.core.management import execute_from_command_line; "
        f"execute_from_command_line(['manage.py', *{list(args)!r}])"
    )
    return start_django(code, **env)


def test_it_passes_the_deployment_checklist_with_production_settings(tmp_path: Path) -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, ARCADE_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_deployment_checklist_when_https_is_turned_off(tmp_path: Path) -> None:
    plain_http = {"ARCADE_SSL_REDIRECT": "false", "ARCADE_SECURE_COOKIES": "false"}
    result = run_manage(
        "check", "--deploy", **PRODUCTION, **plain_http, ARCADE_VAR_DIR=str(tmp_path)
    )
    assert "security.W008" in result.stderr  # SSL redirect
    assert "security.W012" in result.stderr and "security.W016" in result.stderr  # cookies


def production_setting(name: str, **env: str) -> object:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps(getattr(settings, {name!r}, None)))"
    )
    result = start_django(code, **PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_trusts_x_forwarded_proto_only_behind_a_tls_proxy() -> None:
    assert production_setting("SECURE_PROXY_SSL_HEADER") is None
    behind = production_setting("SECURE_PROXY_SSL_HEADER", ARCADE_BEHIND_TLS_PROXY="true")
    assert behind == ["HTTP_X_FORWARDED_PROTO", "https"]
