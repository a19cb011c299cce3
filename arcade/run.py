"""`make run`'s supervisor: start the Procfile's roles, watch them, stop them in order.

What a general process manager (honcho) got wrong for Arcade, and what this does instead:

- A terminal's Ctrl-C went to every process at once, and honcho killed the web process 5 s
  later, while its drain waits ``ARCADE_DRAIN_SECONDS`` (10) for games to be handed over and
  then ends them; Redis stopped at once, so episodes stayed "active". Here each role runs in a
  session of its own, so only this supervisor hears Ctrl-C, and it stops the roles in order:
  the web role first, given its whole drain and a margin; then, once the Celery queues are
  empty (the drain queued the last chunks and finalisations), beat and the worker; Redis last.
  A second Ctrl-C kills everything at once.
- honcho watched output pipes, which helpers of the web process (a multiprocessing resource
  tracker, a spawned child) kept open after it died, so ``make run`` stayed half up. Here each
  role is watched by its process; when one ends, whatever is left in its process group is
  killed, and when it ends unexpectedly everything is stopped with a message naming it.

    python -m arcade.run [--procfile Procfile]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
START_FIRST = "redis"  # the others connect to it at start-up
# Stopped one group after another: each group's processes are signalled together.
STOP_ORDER = (("web",), ("beat", "worker"), ("redis",))
STOP_MARGIN_SECONDS = 20.0  # past the web role's drain, for Daphne's own shutdown
CELERY_STOP_SECONDS = 30.0  # a worker finishes the tasks it holds
QUEUE_DRAIN_SECONDS = 30.0  # what the web role queued while draining, before workers stop
QUEUES = ("celery", "verify")


@dataclass
class Role:
    name: str
    command: str
    process: subprocess.Popen[bytes] | None = None
    printer: threading.Thread | None = None
    expected_exit: bool = False
    pgid: int = 0


@dataclass
class Supervisor:
    roles: list[Role]
    port: str
    drain_seconds: float
    redis_url: str
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    stopping: bool = False
    hurry: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- output ------------------------------------------------------------------------------

    def say(self, name: str, line: str) -> None:
        width = max(len(role.name) for role in self.roles)
        with self.lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{width}} | {line}\n")
            self.out.flush()

    def _copy_output(self, role: Role, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(role.name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # --- starting ----------------------------------------------------------------------------

    def start(self, role: Role) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # A session of its own: the terminal's Ctrl-C reaches only this supervisor, and the
        # role's helpers share its process group, so they can be stopped with it.
        role.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {role.command}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        role.pgid = role.process.pid
        assert role.process.stdout is not None
        role.printer = threading.Thread(
            target=self._copy_output, args=(role, role.process.stdout), daemon=True
        )
        role.printer.start()
        self.say("arcade", f"started {role.name} (pid {role.process.pid})")

    def wait_for_redis(self, timeout: float = 15.0) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
        # Not fatal here: the roles retry their connection, and the watch loop reports a
        # Redis that died.

    def start_all(self) -> None:
        first = [role for role in self.roles if role.name == START_FIRST]
        for role in first:
            self.start(role)
        if first:
            self.wait_for_redis()
        for role in self.roles:
            if role.process is None and not self.stopping:
                self.start(role)
        self.say(
            "arcade",
            f"Arcade is starting on http://127.0.0.1:{self.port} (Ctrl-C stops everything)",
        )

    # --- watching ----------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            self.hurry = True  # a second Ctrl-C: no more waiting
            return
        self.stopping = True

    def watch(self) -> int:
        """Until a signal or a role's exit; then stop everything. The exit status."""
        died: Role | None = None
        while not self.stopping:
            died = next((r for r in self.roles if r.process and r.process.poll() is not None), None)
            if died is not None:
                break
            time.sleep(0.2)
        if died is not None:
            assert died.process is not None
            self._kill_group(died)
            self.say(
                "arcade",
                f"the {died.name} role exited unexpectedly (exit status "
                f"{describe(died.process.returncode)}); stopping everything. Its output is "
                "above; `make run` starts the platform again.",
            )
            self.stopping = True
        else:
            self.say("arcade", "stopping: web first (it drains its games), Redis last")
        self.stop_all()
        return 1 if died is not None else 0

    # --- stopping ----------------------------------------------------------------------------

    def stop_all(self) -> None:
        by_name = {role.name: role for role in self.roles}
        named = {name for group in STOP_ORDER for name in group}
        groups = [[by_name[n] for n in group if n in by_name] for group in STOP_ORDER]
        groups.append([role for role in self.roles if role.name not in named])
        for group in groups:
            if not group:
                continue
            if any(role.name in ("beat", "worker") for role in group):
                self.wait_for_queues(by_name.get("worker"))
            timeout = max(self.timeout_for(role) for role in group)
            self.stop_group(group, timeout)
        for role in self.roles:
            if role.printer is not None:
                role.printer.join(timeout=2)
        self.say("arcade", "stopped")

    def timeout_for(self, role: Role) -> float:
        if role.name == "web":
            return self.drain_seconds + STOP_MARGIN_SECONDS
        if role.name in ("beat", "worker"):
            return CELERY_STOP_SECONDS
        return 10.0

    def stop_group(self, group: list[Role], timeout: float) -> None:
        running = [role for role in group if role.process and role.process.poll() is None]
        for role in running:
            assert role.process is not None
            role.expected_exit = True
            self.say("arcade", f"stopping {role.name}")
            role.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(r.process and r.process.poll() is None for r in running):
            if self.hurry or time.monotonic() > deadline:
                for role in running:
                    if role.process and role.process.poll() is None:
                        why = "a second Ctrl-C" if self.hurry else f"not stopped in {timeout:.0f} s"
                        self.say("arcade", f"killing {role.name} ({why})")
                        self._kill_group(role)
                break
            time.sleep(0.1)
        for role in group:
            if role.process is not None:
                role.process.wait()
                self._kill_group(role)  # helpers it left behind
                if role in running:
                    self.say("arcade", f"{role.name} stopped")

    def wait_for_queues(self, worker: Role | None) -> None:
        """Let the worker take what the web role queued while it drained (chunks, finalising)."""
        if worker is None or worker.process is None or worker.process.poll() is not None:
            return
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + QUEUE_DRAIN_SECONDS
        told = False
        while time.monotonic() < deadline and not self.hurry and worker.process.poll() is None:
            try:
                lengths: list[Any] = [client.llen(queue) for queue in QUEUES]
                lengths.append(client.hlen("unacked"))
                waiting = sum(int(length) for length in lengths)
            except redis.RedisError:
                return
            if not waiting:
                return
            if not told:
                self.say("arcade", f"waiting for the worker to finish {waiting} queued task(s)")
                told = True
            time.sleep(0.2)

    def _kill_group(self, role: Role) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(role.pgid, signal.SIGKILL)


def describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return str(returncode)


def read_procfile(path: Path) -> list[Role]:
    roles = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            roles.append(Role(name=match.group(1), command=match.group(2)))
    if not roles:
        raise SystemExit(f"{path} names no roles (lines of the form 'name: command').")
    return roles


def settings_values() -> tuple[str, float]:
    """REDIS_URL and the web role's drain, as Django's settings read them."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")
    from django.conf import settings

    return str(settings.REDIS_URL), float(settings.ARCADE["DRAIN_SECONDS"])


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procfile", type=Path, default=ROOT / "Procfile")
    args = parser.parse_args(list(argv) if argv is not None else None)
    redis_url, drain = settings_values()
    supervisor = Supervisor(
        roles=read_procfile(args.procfile),
        port=os.environ.get("ARCADE_PORT") or "8000",
        drain_seconds=drain,
        redis_url=redis_url,
    )
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    supervisor.start_all()
    return supervisor.watch()


if __name__ == "__main__":
    sys.exit(main())
