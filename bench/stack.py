"""The server side as in production, on this machine: PostgreSQL, Redis, Daphne, Celery.

PostgreSQL and Redis come from `.ci/services.sh` (Debian's packages, private ports, a
temporary folder); Daphne and the Celery worker run as separate processes with DEBUG off.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# As the Procfile runs them: recording workers yield the CPU to the live loops beside them.
WORKER_NICE = ["nice", "-n", "10"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = []
    for child in text.split():
        found.append(int(child))
        found.extend(_children(int(child)))
    return found


def cpu_seconds_of(pid: int, *, reaped: bool = False) -> float:
    """Its CPU time so far; ``reaped``: with that of its children that ended and were waited
    for (which no longer show in /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime + cstime
    return ticks / CLOCK_TICKS


def cpu_seconds_of_tree(pid: int) -> float:
    """CPU time used so far by a process (all its threads) and all its descendants, those that
    ended too: it only grows, as processes come and go (a hosted machine's, a backend's)."""
    return sum(cpu_seconds_of(p, reaped=True) for p in (pid, *_children(pid)))


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pss_mb(pid: int) -> float:
    """Its proportional share of memory: pages shared with others (a forked child's) are
    split between them, so a process tree's sum counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    roots: dict[str, int] = field(default_factory=dict)  # role -> pid of its root process
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = Path()
    web_processes: int = 1
    # One URL per web process when each has a port of its own (``pinned``): a client then
    # chooses its process. Roles "web", "web1", ...: each process's CPU is read on its own.
    urls: list[str] = field(default_factory=list)

    def pids(self, role: str | None = None) -> list[int]:
        roots = [pid for name, pid in self.roots.items() if role is None or name == role]
        return [p for root in roots for p in (root, *_children(root))]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by every server-side process, by role."""
        return {role: sum(cpu_seconds_of(p) for p in self.pids(role)) for role in self.roots}

    def tree_cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by every role's processes, those that ended included."""
        return {role: cpu_seconds_of_tree(pid) for role, pid in self.roots.items()}

    def rss_mb(self, role: str) -> float:
        return sum(_rss_mb(p) for p in self.pids(role))

    def pss_mb(self, role: str) -> float:
        return sum(_pss_mb(p) for p in self.pids(role))

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout


def _celery_worker(bin_dir: Path, queues: str, concurrency: int, name: str) -> list[str]:
    return [
        str(bin_dir / "celery"),
        "-A",
        "arcade",
        "worker",
        f"--queues={queues}",
        f"--hostname={name}@%h",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
        "--without-mingle",
        "--without-gossip",
    ]


def _service_pid(path: Path) -> int:
    return int(path.read_text().split()[0])


@contextmanager
def running_stack(
    *,
    asgi: str = "arcade.asgi:application",
    workers: int = 1,
    web_processes: int = 1,
    prewarm: int = 1,
    prewarm_games: str = "",
    extra_env: dict[str, str] | None = None,
    pinned: bool = False,
) -> Iterator[Stack]:
    """Start everything, yield the stack, stop everything.

    ``pinned``: each web process listens on a port of its own (roles ``web``, ``web1``, ...)
    instead of all sharing one, so that a client picks which process serves its socket.
    """
    services = Path(tempfile.mkdtemp(prefix="arcade-bench-"))
    subprocess.run([str(ROOT / ".ci/services.sh"), "install"], check=True)
    exports = subprocess.run(
        [str(ROOT / ".ci/services.sh"), "start", str(services)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(os.environ)
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    media = services / "media"
    port = free_port()
    env.update(
        DJANGO_SETTINGS_MODULE="arcade.settings",
        DEBUG="false",
        SECRET_KEY="bench-not-secret",
        ARCADE_PSEUDONYM_KEY="bench-not-secret",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        MEDIA_ROOT=str(media),
        ARCADE_VAR_DIR=str(services / "var"),
        ARCADE_PREWARM=str(prewarm),
        # The sweep measures what the machine holds; the seat cap is a deployment's safety.
        ARCADE_MAX_SESSIONS_PER_PROCESS="10000",
        ARCADE_PREWARM_GAMES=prewarm_games,
        # Production settings served over plain HTTP on this machine, as docker compose does.
        ARCADE_SSL_REDIRECT="false",
        ARCADE_SECURE_COOKIES="false",
        ARCADE_HSTS_SECONDS="0",
        ARCADE_METRICS_PUBLIC="true",
        ARCADE_STOP_GRACE_SECONDS="10",  # a hung web process is killed before the wait ends
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})  # may replace any of the above (a bench's own settings)
    stack = Stack(
        url=f"http://127.0.0.1:{port}",
        env=env,
        logs=services / "logs",
        web_processes=web_processes,
    )
    stack.logs.mkdir()
    try:
        stack.manage("migrate", "--noinput", "-v0")
        stack.manage("load_catalogue", "-v0")
        stack.roots["postgres"] = _service_pid(services / "pg" / "data" / "postmaster.pid")
        stack.roots["redis"] = _service_pid(services / "redis.pid")
        bin_dir = Path(sys.executable).parent
        ports = [port] + ([free_port() for _ in range(web_processes - 1)] if pinned else [])
        stack.urls = [f"http://127.0.0.1:{p}" for p in ports]
        webs = {
            "web" if i == 0 else f"web{i}": [
                sys.executable,
                "-m",
                "arcade.serve",
                f"--processes={1 if pinned else web_processes}",
                "--bind=127.0.0.1",
                f"--port={p}",
                f"--application={asgi}",
            ]
            for i, p in enumerate(ports)
        }
        commands = {
            **webs,
            # Recording (chunks, transitions, finalisation) and replay verification on their own
            # workers, as a lab may deploy them, so each one's CPU is read on its own.
            "worker": [*WORKER_NICE, *_celery_worker(bin_dir, "celery", workers, "recording")],
            "verifier": [*WORKER_NICE, *_celery_worker(bin_dir, "verify", 1, "verifier")],
        }
        for role, command in commands.items():
            log = (stack.logs / f"{role}.log").open("w")
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            stack.processes.append(process)
            stack.roots[role] = process.pid
        _wait_http(stack, timeout=60)
        yield stack
    finally:
        for process in stack.processes:
            process.terminate()
        for process in stack.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run([str(ROOT / ".ci/services.sh"), "stop", str(services)], check=False)
        shutil.rmtree(services, ignore_errors=True)


def _wait_http(stack: Stack, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(stack.url + "/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"Daphne did not answer in {timeout} s:\n" + (stack.logs / "web.log").read_text()[-3000:]
    )
