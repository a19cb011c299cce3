"""A live stack for end-to-end tests: Daphne and a Celery worker as real processes, sharing the
test database (PostgreSQL), Redis and media folder with the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    url: str
    host: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # One URL per web process when each has a port of its own (``stack_pinned``): a client
    # then chooses the process it talks to.
    urls: list[str] = field(default_factory=list)

    def session_cookie(self, user: Any) -> str:
        client = Client()
        client.force_login(user)
        return str(client.cookies["sessionid"].value)

    def tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + log.read_text()[-3000:] for log in sorted(self.logs.glob("*.log"))
        )


def _wait_for(check: Any, what: str, timeout: float, stack_logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    logs = "\n".join(p.read_text()[-2000:] for p in stack_logs.glob("*.log"))
    raise AssertionError(f"{what} did not come up in {timeout} s\n{logs}")


@pytest.fixture
def live_stack(
    transactional_db: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """Mark a test ``@pytest.mark.stack_env(NAME="value")`` to set more of the stack's settings,
    ``@pytest.mark.stack_pinned`` to give each web process a port of its own."""
    marker = request.node.get_closest_marker("stack_env")
    pinned = request.node.get_closest_marker("stack_pinned") is not None
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        if db["ENGINE"].endswith("postgresql")
        else f"sqlite:///{db['NAME']}"
    )
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no stale tasks from earlier runs
    port = free_port()
    ports = [port, free_port()] if pinned else [port]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEBUG": "true",
        "ARCADE_PREWARM": "1",
        "PYTHONUNBUFFERED": "1",
        # A web process whose shutdown hangs is killed well before the wait below ends, so
        # that none outlives the test holding connections to its database.
        "ARCADE_STOP_GRACE_SECONDS": "5",
        **(marker.kwargs if marker else {}),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    bin_dir = Path(sys.executable).parent
    worker = [
        str(bin_dir / "celery"),
        "-A",
        "arcade",
        "worker",
        "--queues=celery,verify",
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-mingle",
        "--without-gossip",
    ]
    commands = {
        # Two web processes and two workers, as in production: a player may land on either
        # web process, and any worker takes any task.
        **{
            ("web" if i == 0 else f"web{i}"): [
                *(sys.executable, "-m", "arcade.serve"),
                f"--processes={1 if pinned else 2}",
                f"--port={p}",
            ]
            for i, p in enumerate(ports)
        },
        "worker": [*worker, "--hostname=first@%h"],
        "worker2": [*worker, "--hostname=second@%h"],
    }
    stack = Stack(
        url=f"http://127.0.0.1:{port}",
        host=f"127.0.0.1:{port}",
        logs=logs,
        urls=[f"http://127.0.0.1:{p}" for p in ports],
    )
    for name, command in commands.items():
        log = (logs / f"{name}.log").open("w")
        stack.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    processes = list(stack.processes.values())
    try:

        def web_up() -> bool:
            try:
                for p in ports:
                    with socket.create_connection(("127.0.0.1", p), timeout=0.2):
                        pass
                return True
            except OSError:
                return False

        _wait_for(web_up, "Daphne", 30, logs)
        for name in ("worker", "worker2"):
            log_file = logs / f"{name}.log"
            _wait_for(lambda f=log_file: "ready." in f.read_text(), "Celery workers", 60, logs)
        yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
