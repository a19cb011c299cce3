"""The container image (Dockerfile, docker/entrypoint.sh), read with BuildKit's own parser:
no Docker engine runs here, so what can be checked without building it is checked here, and
test_deploy_compose.py runs its roles' commands for real."""

from __future__ import annotations

import re
import subprocess

from .deploy import ROOT, dockerfile, image_env, production_lock, stage


def runs(stage_name: str) -> str:
    return "\n".join(" ".join(i["value"]) for i in stage(stage_name) if i["cmd"] == "RUN")


def test_it_builds_on_python_311_slim_bookworm() -> None:
    bases = [i["value"][0] for i in dockerfile() if i["cmd"] == "FROM"]
    assert bases[0] == "python:3.11-slim-bookworm"
    # Every later stage builds on the first one or on another stage, never on a new image.
    stages = {i["stage"] for i in dockerfile()}
    assert set(bases[1:]) <= stages


def test_it_ends_with_the_application_stage_so_a_plain_build_makes_it() -> None:
    assert dockerfile()[-1]["stage"] == "runtime"


def test_it_installs_exactly_the_lock_file_with_its_hashes() -> None:
    build = runs("build")
    assert "lock_subset.py requirements.lock >production.lock" in build
    assert re.search(r"uv pip sync .*--require-hashes production\.lock", build)
    # The arena's runtime (what submitted agents import in their sandbox): its own lock, hashed.
    assert re.search(r"uv pip sync .*--target /opt/arena-runtime --require-hashes", build)
    # Any pip install checks hashes too (uv itself comes from the lock).
    for command in re.findall(r"pip install[^&]*", build):
        assert "--require-hashes" in command, command
    assert "uv pip install" not in build and "uv pip compile" not in build


def test_it_leaves_build_tools_and_the_dev_group_out_of_the_image() -> None:
    copies = [i for i in stage("runtime") if i["cmd"] == "COPY" and "--from=build" in i["flags"]]
    assert [c["value"] for c in copies] == [
        ["/opt/venv", "/opt/venv"],
        ["/opt/arena-runtime", "/opt/arena-runtime"],  # numpy and onnxruntime for the agents
    ]
    packages = {line.split("==")[0] for line in production_lock().splitlines() if "==" in line}
    assert {"django", "daphne", "celery", "psycopg-binary", "google-cloud-storage"} <= packages
    assert not packages & {"pytest", "playwright", "mypy", "ruff", "gcp-storage-emulator", "uv"}


def test_it_keeps_the_versions_and_hashes_of_the_lock() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    subset = production_lock()
    for line in subset.splitlines():
        assert line in lock, line
    entries = re.split(r"\n(?=\S)", subset.strip())
    assert len(entries) > 50
    assert all("--hash=sha256:" in entry for entry in entries)


def test_it_runs_as_an_unprivileged_user() -> None:
    for name in ("runtime", "storage-emulator"):
        users = [i["value"][0] for i in stage(name) if i["cmd"] == "USER"]
        assert users, f"{name} never leaves root"
        uid = users[-1].split(":")[0]
        assert uid not in ("0", "root"), name
        assert f"useradd --system --uid {uid}" in runs(name)


def test_it_collects_static_files_while_building() -> None:
    assert "manage.py collectstatic --noinput" in runs("runtime")
    assert image_env("runtime")["STATIC_ROOT"].startswith("/app/")


def test_it_starts_every_role_through_the_entrypoint_script() -> None:
    entrypoint = [i for i in stage("runtime") if i["cmd"] == "ENTRYPOINT"][-1]
    cmd = [i for i in stage("runtime") if i["cmd"] == "CMD"][-1]
    assert entrypoint["json"] and entrypoint["value"] == ["/app/docker/entrypoint.sh"]
    assert cmd["value"] == ["web"]
    script = ROOT / "docker" / "entrypoint.sh"
    assert script.stat().st_mode & 0o111, "docker/entrypoint.sh must be executable"


def test_it_knows_the_roles_web_worker_beat_migrate_and_manage() -> None:
    script = (ROOT / "docker" / "entrypoint.sh").read_text()
    roles = re.findall(r"^    ([a-z]+)\)$", script, flags=re.MULTILINE)
    assert roles == ["web", "worker", "beat", "migrate", "manage"]


def test_it_refuses_an_unknown_role_with_the_list_of_roles() -> None:
    result = subprocess.run(
        [ROOT / "docker" / "entrypoint.sh", "serve"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 64
    assert "unknown role 'serve'" in result.stderr
    for role in ("web", "worker", "beat", "migrate", "manage"):
        assert f"entrypoint.sh {role}" in result.stderr


def test_it_keeps_local_files_and_secrets_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".venv-infra", ".arena-runtime", "var", "media", ".env*"} <= set(
        ignored
    )
