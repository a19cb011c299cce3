"""`make run`'s supervisor (arcade/run.py), started as `make run` starts it, on the embedded
default (SQLite, the embedded Redis) in a folder of its own: Ctrl-C during play leaves no
episode active, and a web process that dies takes its helpers with it and stops the rest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets

from .conftest import ROOT, free_port

pytestmark = pytest.mark.integration

DRAIN_SECONDS = 8  # longer than honcho's 5 s kill timeout, which cut the drain short


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    port: int

    def output(self) -> str:
        return self.log.read_text()

    def pid_of(self, role: str) -> int:
        for line in self.output().splitlines():
            if f"| started {role} (pid " in line:
                return int(line.rsplit("(pid ", 1)[1].rstrip(")"))
        raise AssertionError(f"{role} not started:\n{self.output()[-3000:]}")

    def ctrl_c(self) -> None:
        # A terminal's Ctrl-C: SIGINT to the foreground process group.
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running:\n{self.output()[-4000:]}") from None


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
user = User.objects.create_user("alice@example.org", "alice-password-1")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members


def wait_until(check: object, what: str, timeout: float, run: Run) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if run.process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout} s\n{run.output()[-4000:]}")


def answering(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Run]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "ARCADE_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "var" / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "ARCADE_PORT": str(port),
        "DEBUG": "true",
        "ARCADE_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "ARCADE_RECONNECT_GRACE_SECONDS": "20",
        "ARCADE_PREWARM_GAMES": "pong",
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput")
    manage(env, "load_catalogue")
    log = tmp_path / "run.log"
    with log.open("w") as out:
        # `make run`'s last line; a session of its own, as a terminal's job is.
        process = subprocess.Popen(
            [sys.executable, "-m", "arcade.run", "--procfile", "Procfile"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Run(process=process, env=env, log=log, port=port)
    try:
        wait_until(lambda: answering(port), "the web role answering", 60, run)
        wait_until(lambda: "ready." in run.output(), "the worker ready", 60, run)
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for role in ("redis", "web", "worker", "beat"):
            try:
                pgid = run.pid_of(role)
            except AssertionError:
                continue
            for pid in group_members(pgid):
                os.kill(pid, signal.SIGKILL)


async def play_until_ctrl_c(run: Run, session_key: str, frames: int, *, ctrl_c: bool = True) -> int:
    """Play Pong over the socket; press Ctrl-C in the terminal mid-game; read until closed."""
    url = f"ws://127.0.0.1:{run.port}/ws/play/pong/"
    headers = {"Cookie": f"sessionid={session_key}", "Origin": f"http://127.0.0.1:{run.port}"}
    seen = 0
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "start"}))
        await ws.send(json.dumps({"type": "begin"}))  # the player is ready at once
        while seen < frames:
            message = await asyncio.wait_for(ws.recv(), 20)
            if isinstance(message, bytes):
                seen += 1
                if seen % hello["ack_every"] == 0:
                    await ws.send(json.dumps({"type": "ack", "frame": seen}))
        if not ctrl_c:
            return seen
        run.ctrl_c()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 60)
        except (websockets.ConnectionClosed, TimeoutError):
            pass
    return seen


def episodes(run: Run) -> list[tuple[str, str]]:
    database = Path(run.env["ARCADE_VAR_DIR"]) / "arcade.sqlite3"
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT status, end_reason FROM recording_episode").fetchall()


def test_it_leaves_no_episode_active_after_ctrl_c_during_play(make_run: Run) -> None:
    session_key = manage(make_run.env, "shell", "-c", SESSION).strip().splitlines()[-1]
    assert asyncio.run(play_until_ctrl_c(make_run, session_key, frames=120)) == 120

    assert make_run.wait(timeout=DRAIN_SECONDS + 90) == 0
    out = make_run.output()
    assert "killing" not in out, out[-4000:]
    # Web first, Redis last.
    order = [out.index(f"| {role} stopped") for role in ("web", "worker", "redis")]
    assert order == sorted(order), out[-4000:]
    assert episodes(make_run) == [("complete", "abandoned")], out[-4000:]


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def test_it_stops_everything_with_a_message_when_the_web_process_dies(make_run: Run) -> None:
    roles = {role: make_run.pid_of(role) for role in ("redis", "web", "worker", "beat")}
    # A game played: Daphne has started its helpers (the start-state seeder, its resource
    # tracker), which inherit its output.
    session_key = manage(make_run.env, "shell", "-c", SESSION).strip().splitlines()[-1]
    asyncio.run(play_until_ctrl_c(make_run, session_key, frames=10, ctrl_c=False))
    daphne = children_of(roles["web"])
    helpers = [helper for pid in daphne for helper in children_of(pid)]
    assert daphne and helpers, "Daphne and its helpers run in the web role"
    for pid in daphne:
        os.kill(pid, signal.SIGKILL)  # the helpers live on, holding the role's output open

    assert make_run.wait(timeout=DRAIN_SECONDS + 90) == 1
    out = make_run.output()
    assert "the web role exited unexpectedly" in out, out[-4000:]
    assert "stopping everything" in out
    for role, pgid in roles.items():
        assert group_members(pgid) == [], f"{role} left processes behind"
    assert not answering(make_run.port)


def test_it_prints_the_address_with_the_real_port(make_run: Run) -> None:
    banner = f"Arcade is starting on http://127.0.0.1:{make_run.port} (Ctrl-C stops everything)"
    assert banner in make_run.output()
    demo = manage(make_run.env, "demo_admin")
    assert f"(http://127.0.0.1:{make_run.port}/admin/)" in demo
