"""`python -m arcade.serve`: several Daphne processes behind one port, stopped as one service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import ROOT, free_port

APP = "arcade.tests.pid_app:application"


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def wait_answering(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.fixture
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    monkeypatch.setenv("ARCADE_STOP_GRACE_SECONDS", "3")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arcade.serve",
            "--processes=2",
            f"--port={port}",
            f"--application={APP}",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_answering(url)
        yield process, url
    finally:
        # Its children first: once the parent is gone they belong to init, out of sight.
        children = _leftovers(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def _leftovers(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent:
                found.append(int(entry.name))
    return found


def test_processes_share_the_port_and_a_busy_one_leaves_new_players_to_the_other(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = served
    daphnes = set(children_of(process.pid))
    assert len(daphnes) == 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        answered_by = {int(pid) for pid in pool.map(lambda _: get(url), range(40))}

    assert answered_by == daphnes


def test_sigterm_stops_every_process_cleanly(served: tuple[subprocess.Popen[bytes], str]) -> None:
    process, _ = served
    daphnes = children_of(process.pid)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in daphnes)


def test_one_process_dying_stops_the_service_so_its_supervisor_restarts_it(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, _ = served
    first, second = children_of(process.pid)

    os.kill(first, signal.SIGKILL)

    assert process.wait(timeout=30) != 0
    deadline = time.monotonic() + 10
    while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{second}").exists()


def test_a_process_that_does_not_stop_is_killed_after_the_grace(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, _ = served
    stuck, other = children_of(process.pid)
    os.kill(stuck, signal.SIGSTOP)  # as a Daphne whose shutdown hangs: it never exits by itself

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) != 0  # not a clean stop: its supervisor hears so
    for pid in (stuck, other):
        assert not Path(f"/proc/{pid}").exists()
