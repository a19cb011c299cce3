"""Cold starts beside a running game: how long the running game's steps wait.

A 60 Hz game (Pong) steps on an event loop, as one web process's live loop does, while a
burst of cold starts makes machines for a game the pool holds none of. Three designs, side by
side in one run on the same machine: builds on the loop (what ``MachinePool.acquire`` did for
ALE games until issue 11), on the pool's builder thread (its first fix: ale-py holds the GIL
while it loads a ROM, so each build is still a hitch), and hosted machines, each built in a
process of its own (what the pool does now while a game is being played). Reported: the
running game's step intervals (p50, p99, max) and how long the burst took to be ready.

`python -m bench coldstart --starts 12`
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from games.catalogue import ATARI_KWARGS
from games.engine.hosted import start_fork_server
from games.engine.machines import GameConfig, build_machine, is_multi_machine
from games.engine.pool import MachinePool
from games.engine.registry import register_all


def _config(env: str, **kwargs: Any) -> GameConfig:
    return GameConfig(
        slug=env,
        title=env,
        env_id=f"ALE/{env}-v5",
        env_kwargs={**ATARI_KWARGS, **kwargs},
        fps=60,
        turn_based=False,
        key_map={},
        default_action=0,
        max_steps=10**6,
        n_actions=18,
    )


async def _measure(design: str, starts: int, round_: int) -> dict[str, Any]:
    running = build_machine(_config("Pong"))
    assert not is_multi_machine(running)  # one-seat Pong: its step takes one action
    running.start(1, None)
    pool = MachinePool(use_helper=False, host_cold_starts=design == "hosted")
    if design == "hosted":
        start_fork_server()  # as prewarm does
        pool._hand_out(running)  # the game being played, which a build here would stall
    cold = _config("Seaquest", mode=0, difficulty=round_ % 2)  # a pool key nobody built
    intervals: list[float] = []
    machines: list[Any] = []
    stop = asyncio.Event()

    async def play() -> None:
        last = time.perf_counter()
        deadline = last
        while not stop.is_set():
            deadline += 1 / 60
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
            running.step(0)
            now = time.perf_counter()
            intervals.append(now - last)
            last = now

    async def start_one() -> None:
        if design == "on the loop":
            machine = pool._take(cold) or build_machine(cold)
        else:
            machine = await pool._off_loop(cold)
        await asyncio.to_thread(machine.start, 7, None)
        machines.append(machine)

    game = asyncio.create_task(play())
    await asyncio.sleep(1.0)
    quiet = len(intervals)
    began = time.perf_counter()
    await asyncio.gather(*(start_one() for _ in range(starts)))
    built = time.perf_counter() - began
    await asyncio.sleep(0.5)
    stop.set()
    await game
    for machine in machines:
        machine.close()
    pool.shutdown()
    during = sorted(intervals[quiet:])
    return {
        "design": design,
        "starts": starts,
        "burst_built_s": round(built, 3),
        "interval_p50_ms": round(1000 * statistics.median(during), 1),
        "interval_p99_ms": round(1000 * during[int(0.99 * (len(during) - 1))], 1),
        "interval_max_ms": round(1000 * during[-1], 1),
    }


def run(*, starts: int = 12, rounds: int = 2) -> list[dict[str, Any]]:
    register_all()
    results = []
    for round_ in range(rounds):  # interleaved, so both designs see the same machine
        for design in ("on the loop", "builder thread", "hosted"):
            results.append(asyncio.run(_measure(design, starts, round_)))
    return results


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| design | starts | burst built (s) | step interval p50 / p99 / max (ms) |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['design']} | {r['starts']} | {r['burst_built_s']} | "
            f"{r['interval_p50_ms']} / {r['interval_p99_ms']} / {r['interval_max_ms']} |"
        )
    return "\n".join(lines)
