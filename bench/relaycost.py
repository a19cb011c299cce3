"""What a seat costs when its socket is on another web process than its match.

A stack of two web processes, each on a port of its own (``running_stack(pinned=True)``), so
the load generator chooses the process of every socket, and seats are taken one after another
so the first player of each match hosts it on the first process. Three kinds of phase, run in
turn (``rounds`` times each) so a neighbour's load on the shared cores falls on all alike, each
with ``matches`` matches of Pong:

- ``solo``: ``pong-vs-ai``, the person's socket on the host, the tracker at seat 1 (a match
  with one seat's socket: the emulation, recording and the AI, without a second viewer);
- ``local``: ``pong-2p``, both sockets on the host;
- ``remote``: ``pong-2p``, seat 0's socket on the host, seat 1's on the other process (its
  frames relayed through the channel layer, its acks and keys sent back the same way).

CPU is read from /proc for each web process and Redis over each phase's window. A seat's cost
is what it adds to a match without it: ``(local - solo) / matches`` for a seat on the host,
``(remote - solo) / matches`` for a remote one; ``remote_seat_cpu_ratio`` is their ratio. The
tracker's own decisions (a RAM read every few frames) stay in ``solo``, so the local seat's
cost is, if anything, understated by them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .stack import ROOT, Stack, running_stack

PHASES = ("solo", "local", "remote")


def _phase(stack: Stack, kind: str, cookies: list[str], seconds: float) -> dict[str, Any]:
    """One phase's players through the load generator; each role's CPU over its window."""
    host, other = stack.urls
    matches = len(cookies) // 2
    players = cookies[:matches] if kind == "solo" else cookies
    if kind == "remote":
        urls = [host if i % 2 == 0 else other for i in range(len(players))]
    else:
        urls = [host] * len(players)
    config = {
        "url": host,
        "urls": urls,
        "path": "/ws/match/",
        "slug": "pong-vs-ai" if kind == "solo" else "pong-2p",
        "multi": True,
        "sequential": True,
        "cookies": players,
        "seconds": seconds,
        "warmup": 5.0,  # the countdown (3 s) and the seats taken one after another
        "ramp": 0.05,
        "sample_every": 10**6,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    loadgen = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", handle.name],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loadgen.stdout is not None
    window = json.loads(loadgen.stdout.readline())["window_wall"]
    _sleep_until(window[0])
    before = stack.cpu_seconds()
    _sleep_until(window[1])
    after = stack.cpu_seconds()
    out, _ = loadgen.communicate(timeout=120)
    Path(handle.name).unlink()
    result = json.loads(out.strip().splitlines()[-1])
    elapsed = window[1] - window[0]
    cores = {role: (after[role] - before.get(role, 0.0)) / elapsed for role in after}
    time.sleep(2)  # the matches end (their sockets closed) before the next phase
    return {
        "kind": kind,
        "host_cores": cores["web"],
        "other_cores": cores["web1"],
        "redis_cores": cores["redis"],
        "cores": cores["web"] + cores["web1"] + cores["redis"],
        "fps_mean": result["fps_mean"],
        "frame_interval_p99_ms": result["frame_interval_p99_ms"],
        "failures": result["failures"],
    }


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def seat_costs(*, matches: int, seconds: float, rounds: int = 2) -> dict[str, Any]:
    """``remote_seat_cpu_ratio`` and what it is made of (see the module's docstring)."""
    with running_stack(
        web_processes=2,
        pinned=True,
        prewarm=matches + 2,
        prewarm_games="pong-2p,pong-vs-ai",
    ) as stack:
        os.environ.update(stack.env)
        import django

        django.setup()
        from .live import _sign_in, _wait_prewarmed

        cookies = _sign_in(2 * matches)
        _wait_prewarmed(stack)
        phases = [_phase(stack, kind, cookies, seconds) for _ in range(rounds) for kind in PHASES]
    cores = {
        kind: statistics.median(p["cores"] for p in phases if p["kind"] == kind) for kind in PHASES
    }
    local = (cores["local"] - cores["solo"]) / matches
    remote = (cores["remote"] - cores["solo"]) / matches
    frames = 60.0  # a seat's frames per second
    return {
        "remote_seat_cpu_ratio": remote / local if local > 0 else None,
        "local_seat_cpu_us_per_frame": 1e6 * local / frames,
        "remote_seat_cpu_us_per_frame": 1e6 * remote / frames,
        "seat_cost_matches": matches,
        "seat_cost_phases": phases,
    }
