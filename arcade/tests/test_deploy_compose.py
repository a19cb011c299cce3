"""docker-compose.yml: its shape, and each of its services' commands run for real.

No Docker engine runs here, so each Arcade service runs as its container would: the image's
entry point (read from the Dockerfile) with the service's command and environment (read from
`docker compose config` with example.env), in a virtualenv holding only the image's packages,
against the test PostgreSQL and Redis instead of the compose file's, and gcp-storage-emulator
started with the `storage` service's command.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from django.conf import settings
from django.db import connection

from .deploy import IMAGE_ROOT, ROOT, compose, image_env, production_lock, settings_read, stage

ARCADE_SERVICES = ("migrate", "web", "worker", "beat")


def service(name: str) -> dict[str, Any]:
    return dict(compose()["services"][name])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout} s\n{logs.read_text()[-4000:]}")


# --- the shape of the file ------------------------------------------------------------------


def test_it_runs_web_worker_beat_migrations_postgresql_redis_and_storage() -> None:
    assert set(compose()["services"]) == {*ARCADE_SERVICES, "postgres", "redis", "storage"}
    # Every Arcade service runs the one image, with its role as the command.
    images = {service(name)["image"] for name in ARCADE_SERVICES}
    assert images == {"arcade:local"}
    for name in ARCADE_SERVICES:
        assert service(name)["command"] == [name]
        assert service(name)["build"]["target"] == "runtime"
    assert service("storage")["build"]["target"] == "storage-emulator"


def test_it_checks_the_health_of_every_long_running_service() -> None:
    for name in ("postgres", "redis", "storage", "web", "worker"):
        assert service(name)["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    probe = " ".join(service("web")["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in probe


def test_it_starts_services_only_once_what_they_need_is_ready() -> None:
    def conditions(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in service(name)["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    ready = {"migrate": "service_completed_successfully", "redis": "service_healthy"}
    for name in ("web", "worker"):
        assert conditions(name) == {**ready, "storage": "service_healthy"}
    assert conditions("beat") == ready
    assert service("migrate")["restart"] == "no"


def test_it_runs_exactly_one_beat() -> None:
    assert service("beat")["deploy"]["replicas"] == 1


def test_it_keeps_data_in_named_volumes() -> None:
    def volumes(name: str) -> dict[str, str]:
        return {v["source"]: v["target"] for v in service(name).get("volumes", [])}

    assert volumes("postgres") == {"postgres-data": "/var/lib/postgresql/data"}
    assert volumes("redis") == {"redis-data": "/data"}
    assert volumes("storage") == {"storage-data": "/data"}
    # The beat schedule lives in ARCADE_VAR_DIR, as the image sets it.
    assert volumes("beat") == {"beat-data": image_env("runtime")["ARCADE_VAR_DIR"]}
    assert set(compose()["volumes"]) == {"postgres-data", "redis-data", "storage-data", "beat-data"}


def test_it_wires_the_services_to_each_other_by_name() -> None:
    env = service("web")["environment"]
    database = urlparse(env["DATABASE_URL"])
    assert (database.hostname, database.port, database.path) == ("postgres", 5432, "/arcade")
    assert database.password == service("postgres")["environment"]["POSTGRES_PASSWORD"]
    assert urlparse(env["REDIS_URL"]).hostname == "redis"
    assert env["STORAGE_EMULATOR_HOST"] == "http://storage:9023"
    assert env["GS_CUSTOM_ENDPOINT"].endswith(f"/{env['ARCADE_STORAGE_BUCKET']}")
    assert f"--default-bucket={env['ARCADE_STORAGE_BUCKET']}" in service("storage")["command"]
    assert env["DEBUG"] == "false"


def test_it_documents_every_setting_in_example_env() -> None:
    documented = set(
        re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / "example.env").read_text(), re.MULTILINE)
    )
    missing = settings_read() - documented
    assert not missing, f"add these to example.env: {', '.join(sorted(missing))}"


# --- each service's command, run ------------------------------------------------------------


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with exactly the packages the image installs (docker/lock_subset.py)."""
    folder = tmp_path_factory.mktemp("image")
    lock = folder / "production.lock"
    lock.write_text(production_lock())
    uv = Path(sys.executable).with_name("uv")
    venv = folder / "venv"
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "-q", "--python", python, venv], check=True)
    subprocess.run(
        [uv, "pip", "sync", "-q", "--python", venv / "bin" / "python", "--require-hashes", lock],
        check=True,
    )
    return venv


@dataclass
class Stack:
    """Where the compose services' stand-ins listen, and how to run one service."""

    venv: Path
    folder: Path
    database_url: str
    storage: str
    bucket: str

    def env(self, name: str, **overrides: str) -> dict[str, str]:
        """The container's environment: the image's ENV, then the service's, with the compose
        network's addresses replaced by the test servers'."""
        paths = {IMAGE_ROOT: str(ROOT), "/var/lib/arcade": str(self.folder / "var")}
        env = {key: _rewrite(value, paths) for key, value in image_env("runtime").items()}
        env.update(service(name)["environment"])
        env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}/usr/bin:/bin",
            HOME=str(self.folder),
            DATABASE_URL=self.database_url,
            REDIS_URL=settings.REDIS_URL,
            STORAGE_EMULATOR_HOST=self.storage,
            GS_CUSTOM_ENDPOINT=f"{self.storage}/{self.bucket}",
            ARCADE_BIND="127.0.0.1",
            PYTHONUNBUFFERED="1",
        )
        env.update(overrides)
        return env

    def command(self, name: str) -> list[str]:
        """The image's ENTRYPOINT and the service's command, as the container runs them."""
        entrypoint = [i for i in stage("runtime") if i["cmd"] == "ENTRYPOINT"][-1]["value"]
        return [_rewrite(part, {IMAGE_ROOT: str(ROOT)}) for part in entrypoint] + list(
            service(name)["command"]
        )

    def start(
        self, name: str, *, copy: int = 1, **overrides: str
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.folder / f"{name}-{copy}.log"
        process = subprocess.Popen(
            self.command(name),
            cwd="/",  # the entry point finds the code itself, as in the image's WORKDIR
            env=self.env(name, **overrides),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return process, log

    def run(self, name: str, *command: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        """`docker compose run NAME [COMMAND...]`: a command given replaces the service's."""
        argv = self.command(name)
        if command:
            argv = argv[: -len(service(name)["command"])] + list(command)
        return subprocess.run(
            argv,
            cwd="/",
            env=self.env(name, **overrides),
            capture_output=True,
            text=True,
            timeout=180,
        )


def _rewrite(value: str, paths: dict[str, str]) -> str:
    for old, new in paths.items():
        if value == old or value.startswith(old + "/"):
            return new + value[len(old) :]
    return value


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _database_url(name: str | None = None) -> str:
    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        pytest.skip("the compose services run against PostgreSQL (make test starts one)")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{name or db['NAME']}"


@pytest.fixture
def storage_service(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """gcp-storage-emulator started with the `storage` service's command."""
    port = free_port()
    command = [
        "--host=127.0.0.1" if part.startswith("--host=") else part
        for part in service("storage")["command"]
    ]
    command = [f"--port={port}" if part.startswith("--port=") else part for part in command]
    bucket = next(p.split("=", 1)[1] for p in command if p.startswith("--default-bucket="))
    emulator = Path(sys.executable).with_name("gcp-storage-emulator")
    env = {**os.environ, "STORAGE_BASE": str(tmp_path), "STORAGE_DIR": "data"}
    log = tmp_path / "storage.log"
    process = subprocess.Popen(
        [emulator, *command], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{bucket}", timeout=1):
                return True
        except OSError:
            return False

    try:
        wait_for(answers, "the storage emulator", 30, log)
        yield endpoint, bucket
    finally:
        _stop(process)


@pytest.fixture
def stack(
    transactional_db: Any, image_venv: Path, storage_service: tuple[str, str], tmp_path: Path
) -> Stack:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no stale tasks from earlier tests
    (tmp_path / "var").mkdir()
    endpoint, bucket = storage_service
    return Stack(
        venv=image_venv,
        folder=tmp_path,
        database_url=_database_url(),
        storage=endpoint,
        bucket=bucket,
    )


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database on the test server, as compose's PostgreSQL starts."""
    import psycopg

    server = _database_url("postgres")  # skips without PostgreSQL
    name = f"arcade_compose_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_migrates_an_empty_database_with_the_migrate_service(
    stack: Stack, fresh_database: str
) -> None:
    import psycopg

    url = _database_url(fresh_database)
    result = stack.run("migrate", DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(url) as conn:
        apps = {row[0] for row in conn.execute("SELECT DISTINCT app FROM django_migrations")}
    assert {"accounts", "games", "recording", "auth", "sessions"} <= apps


def test_it_runs_management_commands_as_docs_deploy_md_says(
    stack: Stack, fresh_database: str
) -> None:
    url = _database_url(fresh_database)
    assert stack.run("migrate", DATABASE_URL=url).returncode == 0
    # docker compose run --rm migrate manage createsuperuser --noinput --email ...
    created = stack.run(
        "migrate",
        "manage",
        "createsuperuser",
        "--noinput",
        "--email",
        "admin@example.org",
        DATABASE_URL=url,
        DJANGO_SUPERUSER_PASSWORD="compose-admin-password-1",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    checked = stack.run("migrate", "manage", "check", DATABASE_URL=url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_it_serves_pages_from_the_web_service(stack: Stack) -> None:
    port = free_port()
    process, log = stack.start("web", PORT=str(port))
    url = f"http://127.0.0.1:{port}"

    def serves() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    try:
        wait_for(serves, "the web service answering /", 60, log)
        # Two web processes by default here: one per core the machine has.
        assert re.search(r"arcade: \d+ web process\(es\) on 127\.0\.0\.1", log.read_text())
        assert process.poll() is None
    finally:
        assert _stop(process) == 0, log.read_text()[-3000:]


def test_it_answers_the_health_probes_of_compose_and_cloud_run(stack: Stack) -> None:
    port = free_port()
    process, log = stack.start("web", PORT=str(port))
    probe = [
        part.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for part in service("web")["healthcheck"]["test"][1:]
    ]
    probe[0] = str(stack.venv / "bin" / "python")
    try:
        wait_for(
            lambda: subprocess.run(probe, capture_output=True, check=False).returncode == 0,
            "the web service's compose health check passing",
            60,
            log,
        )
    finally:
        _stop(process)


def test_it_stores_recorded_chunks_in_the_bucket_with_the_worker_service(
    stack: Stack, alice: Any, pong: Any
) -> None:
    from arcade.celery import app
    from recording.models import Chunk
    from recording.services import chunk_path
    from recording.tests.helpers import record_episode

    process, log = stack.start("worker")
    try:
        wait_for(lambda: "ready." in log.read_text(), "the worker starting", 90, log)
        episode, _ = record_episode(user=alice, game=pong, steps=50, store=False)
        refs = [[str(episode.pk), index] for index in range(2)]
        app.send_task("recording.tasks.store_chunks", args=[refs])
        wait_for(
            lambda: Chunk.objects.filter(episode=episode).count() == 2,
            "the worker storing both chunks",
            60,
            log,
        )
        listing = f"{stack.storage}/storage/v1/b/{stack.bucket}/o"
        with urllib.request.urlopen(listing, timeout=5) as response:
            names = {item["name"] for item in json.load(response).get("items", [])}
        assert {chunk_path(str(episode.pk), 0), chunk_path(str(episode.pk), 1)} <= names
    finally:
        assert _stop(process) == 0, log.read_text()[-3000:]


def test_it_starts_the_beat_service_and_keeps_its_schedule_in_the_var_folder(
    stack: Stack,
) -> None:
    process, log = stack.start("beat")
    try:
        wait_for(lambda: "beat: Starting..." in log.read_text(), "beat starting", 60, log)
        time.sleep(1)
        assert process.poll() is None, log.read_text()
        assert list((stack.folder / "var").glob("celerybeat-schedule*"))
    finally:
        assert _stop(process) == 0, log.read_text()[-3000:]


def test_it_runs_one_beat_even_when_two_are_started(stack: Stack, tmp_path: Path) -> None:
    first, first_log = stack.start("beat")
    try:
        wait_for(lambda: "beat: Starting..." in first_log.read_text(), "beat", 60, first_log)
        second_var = tmp_path / "second-var"
        second_var.mkdir()
        second, second_log = stack.start("beat", copy=2, ARCADE_VAR_DIR=str(second_var))
        try:
            wait_for(lambda: "waiting" in second_log.read_text(), "a wait", 30, second_log)
            time.sleep(2)
            assert "beat: Starting..." not in second_log.read_text()
            # A rollout: the first stops, and the second takes over at once.
            assert _stop(first) == 0
            wait_for(
                lambda: "beat: Starting..." in second_log.read_text(),
                "the second beat taking over",
                30,
                second_log,
            )
        finally:
            _stop(second)
    finally:
        _stop(first)


def test_it_stops_a_beat_whose_lock_was_taken_over(stack: Stack) -> None:
    process, log = stack.start("beat")
    try:
        wait_for(lambda: "beat: Starting..." in log.read_text(), "beat starting", 60, log)
        # As if the lock had expired while this copy was cut off and another took it.
        redis.Redis.from_url(settings.REDIS_URL).set("arcade:singleton:beat", "someone-else")
        assert process.wait(timeout=20) == 1
        assert "lost 'beat'; stopping celery" in log.read_text()
    finally:
        _stop(process)
