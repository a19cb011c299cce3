"""Two-player Pong emulation: steps per CPU second, our machine beside PettingZoo's env.

Four ways of stepping the same game with the same joint actions (each seat holds an action
for 15 steps, as a person does), side by side in one run, in rounds taken in turn so that a
neighbour's load on the shared cores falls on all of them alike; the median round is reported:

- ``MultiAtariMachine.step`` (+ ``new_colours``): what a live two-player match steps;
- ``MultiAtariMachine.advance``: what a replay steps (no difference from the frame before);
- PettingZoo's parallel env (``pettingzoo.make("parallel", "atari/pong-v3")``), RGB
  observations, its wrappers included;
- PettingZoo's ``ParallelAtariEnv`` without the wrappers (its ``unwrapped``).

One-player Pong's ``AtariMachine.step`` is measured too, for scale, and the cost and size of
freezing and thawing a two-player game (a match moved to another process).

`python -m bench multiplayer --steps 5000 --rounds 5`
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from games.catalogue import ATARI_KWARGS
from games.engine.machines import AtariMachine, atari_start_state
from games.engine.multiplayer import (
    ROMS,
    MultiAtariMachine,
    multi_seat_game,
    multi_start_state,
)
from games.engine.registry import register_all

SEED = 1


def _joint_actions(steps: int, seats: int, n_actions: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    held = rng.integers(n_actions, size=(steps // 15 + 1, seats))
    return [[int(a) for a in held[step // 15]] for step in range(steps)]


def _cpu_rate(run: Callable[[], int]) -> float:
    """Steps per CPU second of ``run`` (which returns how many steps it took)."""
    started = time.process_time()
    steps = run()
    return steps / (time.process_time() - started)


# Each run starts its game afresh, and starts it again when it ends (a random player loses
# one-player Pong 21-0 within a few thousand steps): ALE steps a finished game for nothing.


def _ours(actions: list[list[int]], *, live: bool) -> Callable[[], int]:
    machine = MultiAtariMachine("pong")
    start = multi_start_state("pong", SEED)

    def run() -> int:
        machine.start(SEED, start)
        for joint in actions:
            if live:
                outcome = machine.step(joint)
                machine.new_colours()
            else:
                outcome = machine.advance(joint)
            if outcome.terminated:
                machine.start(SEED, start)
        return len(actions)

    return run


def _pettingzoo(actions: list[list[int]], *, wrapped: bool) -> Callable[[], int]:
    import pettingzoo

    env: Any = pettingzoo.make("parallel", "atari/pong-v3", auto_rom_install_path=str(ROMS))
    if not wrapped:
        env = env.unwrapped
    agents = list(env.possible_agents)
    steps = [dict(zip(agents, joint, strict=True)) for joint in actions]

    def run() -> int:
        env.reset()
        for joint in steps:
            env.step(joint)
            if not env.agents:
                env.reset()
        return len(steps)

    return run


def _single(actions: list[list[int]]) -> Callable[[], int]:
    register_all()
    kwargs = dict(ATARI_KWARGS)
    machine = AtariMachine("ALE/Pong-v5", kwargs)
    start = atari_start_state("ALE/Pong-v5", kwargs, SEED)
    single = [joint[0] for joint in actions]

    def run() -> int:
        machine.start(SEED, start)
        for action in single:
            outcome = machine.step(action)
            machine.new_colours()
            if outcome.terminated:
                machine.start(SEED, start)
        return len(single)

    return run


def _freezing(repeat: int = 200) -> dict[str, float]:
    machine = MultiAtariMachine("pong")
    machine.start(SEED, None)
    for joint in _joint_actions(300, 2, 6):
        machine.step(joint)
    other = MultiAtariMachine("pong")
    started = time.perf_counter()
    for _ in range(repeat):
        frozen = machine.freeze()
    froze = (time.perf_counter() - started) / repeat
    started = time.perf_counter()
    for _ in range(repeat):
        other.thaw(frozen)
    thawed = (time.perf_counter() - started) / repeat
    return {
        "freeze_us": round(froze * 1e6, 1),
        "thaw_us": round(thawed * 1e6, 1),
        "frozen_bytes": len(frozen),
        "ale_state_bytes": len(machine.snapshot().state),
        "snapshot_bytes": len(machine.snapshot().to_bytes()),
    }


def run(steps: int = 5000, rounds: int = 5) -> dict[str, Any]:
    game = multi_seat_game("pong")
    actions = _joint_actions(steps, game.seats, len(game.actions))
    designs = {
        "ours_step": _ours(actions, live=True),
        "ours_advance": _ours(actions, live=False),
        "pettingzoo_parallel": _pettingzoo(actions, wrapped=True),
        "pettingzoo_unwrapped": _pettingzoo(actions, wrapped=False),
        "single_player_step": _single(actions),
    }
    rates: dict[str, list[float]] = {name: [] for name in designs}
    for _ in range(rounds):
        for name, design in designs.items():
            rates[name].append(_cpu_rate(design))
    medians = {name: round(statistics.median(values)) for name, values in rates.items()}
    return {
        "game": "pong (two players)",
        "steps": steps,
        "rounds": rounds,
        "steps_per_cpu_s": medians,
        "steps_per_cpu_s_range": {
            name: [round(min(values)), round(max(values))] for name, values in rates.items()
        },
        "ours_vs_pettingzoo": round(medians["ours_step"] / medians["pettingzoo_parallel"], 2),
        **_freezing(),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Two-player Pong, {result['steps']} steps x {result['rounds']} rounds (median round)",
        "| design | steps per CPU second | range |",
        "|---|---|---|",
    ]
    for name, rate in result["steps_per_cpu_s"].items():
        low, high = result["steps_per_cpu_s_range"][name]
        lines.append(f"| {name} | {rate:,} | {low:,}-{high:,} |")
    lines.append(
        f"ours (step) / PettingZoo parallel: {result['ours_vs_pettingzoo']}x; "
        f"freeze {result['freeze_us']} us, thaw {result['thaw_us']} us, "
        f"{result['frozen_bytes']:,} bytes frozen (ALE state {result['ale_state_bytes']:,}, "
        f"stored snapshot {result['snapshot_bytes']:,})"
    )
    return "\n".join(lines)
