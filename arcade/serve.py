"""Serve the platform from several Daphne processes sharing one listening socket.

One Python process runs one game loop on one core (the GIL), so a machine with N cores runs N
web processes. The parent binds the socket once and hands it to every child (`daphne --fd`);
the children all accept from it. A child busy stepping its games is late to `accept`, so new
players land mostly on the less loaded process. The parent forwards SIGTERM and SIGINT to
every child and waits for them, and stops all of them if one dies, so a supervisor (`arcade.run`,
Docker, systemd) sees one service. A child still there ``ARCADE_STOP_GRACE_SECONDS`` (20) after
the signal is killed: a Daphne whose shutdown hangs (an HTTP request caught mid-flight as its
event loop stops) must not outlive the service it belongs to, holding its port's database
connections.

    python -m arcade.serve --processes 2 --bind 0.0.0.0 --port 8000
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

APPLICATION = "arcade.asgi:application"


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def daphne_command(fd: int, application: str, extra: list[str]) -> list[str]:
    daphne = Path(sys.executable).with_name("daphne")
    return [str(daphne), "--fd", str(fd), *extra, application]


def serve(*, processes: int, host: str, port: int, application: str, extra: list[str]) -> int:
    sock = listening_socket(host, port)
    command = daphne_command(sock.fileno(), application, extra)
    env = dict(os.environ)
    metrics_dir = None
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        # The children's metrics in one place, so that a scrape of any of them reports all.
        metrics_dir = tempfile.mkdtemp(prefix="arcade-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    children = [
        subprocess.Popen(command, pass_fds=(sock.fileno(),), env=env) for _ in range(processes)
    ]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"arcade: {processes} web process(es) on {host}:{port} "
        f"(pids {', '.join(str(c.pid) for c in children)})",
        flush=True,
    )
    # One dead child means a broken deployment, not a smaller one: stop the rest too.
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    failed = not stopping
    if failed:
        stop(signal.SIGTERM, None)
    deadline = time.monotonic() + float(os.environ.get("ARCADE_STOP_GRACE_SECONDS", "20"))
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"arcade: web process {child.pid} did not stop; killed", flush=True)
            child.kill()
            child.wait()
            failed = True
    sock.close()
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("ARCADE_WEB_PROCESSES", "1")),
        help="web processes (default: $ARCADE_WEB_PROCESSES or 1; one per core in production)",
    )
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ARCADE_PORT", "8000")))
    parser.add_argument("--application", default=APPLICATION)
    args, extra = parser.parse_known_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    return serve(
        processes=args.processes,
        host=args.bind,
        port=args.port,
        application=args.application,
        extra=extra,
    )


if __name__ == "__main__":
    sys.exit(main())
