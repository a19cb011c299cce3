"""The arena's sandbox: what it costs per move and per match, and whether every wall holds.

- ``sandbox_overhead_ms_per_move``: the same random agent (arena/tests/agents/random) asked
  for moves on a connect-four board, in this process and in its sandbox; the difference of the
  means per move, in ms (target: at most 0.2).
- ``*_matches_per_minute_per_core``: matches between two sandboxed random agents in duels of
  10, as ``play_duel`` plays them (a sandbox per agent per duel, reset each match), per minute
  of CPU (this process and all its children, the sandboxes' starts included); ``games`` has
  the wall-clock rate too, and the same with fresh sandboxes every match (``*_per_match``).
- ``connect_four_duel_10_s``: a duel of 10 connect-four matches, first mover alternating, wall
  clock (target: under 2 s); ``connect_four_duel_10_sandbox_per_match_s`` with two fresh
  sandboxes every match.
- ``containment_checks_passed``: the hostile agents of arena/tests/agents, each ended with the
  expected failure kind (of ``containment_checks_total``).

The games are PettingZoo's classic ``tictactoe_v3`` and ``connect_four_v3`` driven directly
(``PettingZooGame``): the arena's board games of ``games/`` are being built beside this; the
JSON keys are the issue's, and the shape takes them when they land.

`python -m bench arena --moves 3000 --matches 20`
"""

from __future__ import annotations

import importlib.util
import os
import resource
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena.sandbox import cgroup
from arena.sandbox.agent import AgentFailed, FailureKind, SandboxedAgent
from arena.sandbox.bwrap import Runtime
from arena.sandbox.limits import Limits
from arena.sandbox.match import MatchResult, Player, TurnGame, play_duel

AGENTS = Path(__file__).resolve().parent.parent / "arena" / "tests" / "agents"
RANDOM = AGENTS / "random"
GAMES_SOURCE = "pettingzoo.classic (tictactoe_v3, connect_four_v3), not yet games/"
# A loaded two-core machine: starts get time; the moves' clocks stay the default.
LIMITS = Limits(start_seconds=30.0)


class PettingZooGame:
    """A PettingZoo classic AEC env as a ``TurnGame``: seats in ``possible_agents`` order."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.env = make()
        self.seats = list(self.env.possible_agents)
        self.totals = [0.0, 0.0]

    def reset(self, seed: int) -> None:
        self.env.reset(seed=seed)
        self.totals = [0.0, 0.0]

    def to_move(self) -> int | None:
        agent = self.env.agent_selection
        if self.env.terminations[agent] or self.env.truncations[agent]:
            return None
        return self.seats.index(agent)

    def observation(self, seat: int) -> np.ndarray:
        return np.asarray(self.env.observe(self.seats[seat])["observation"])

    def action_mask(self, seat: int) -> np.ndarray:
        return np.asarray(self.env.observe(self.seats[seat])["action_mask"])

    def step(self, action: int) -> None:
        self.env.step(action)
        for seat, agent in enumerate(self.seats):
            self.totals[seat] += float(self.env.rewards.get(agent, 0.0))

    def scores(self) -> tuple[float, float]:
        return self.totals[0], self.totals[1]


def tictactoe() -> PettingZooGame:
    from pettingzoo.classic import tictactoe_v3

    return PettingZooGame(tictactoe_v3.env)


def connect_four() -> PettingZooGame:
    from pettingzoo.classic import connect_four_v3

    return PettingZooGame(connect_four_v3.env)


class InProcessAgent:
    """The same submission imported into this process: the baseline the sandbox is timed
    against, for the bench only (an arena never runs a submission outside its sandbox)."""

    def __init__(self, submission: Path) -> None:
        spec = importlib.util.spec_from_file_location("bench_agent", submission / "agent.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.agent = module.Agent()

    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.agent.reset(seat, game_info)

    def act(self, observation: np.ndarray, action_mask: Sequence[int] | np.ndarray) -> int:
        return int(self.agent.act(observation, np.asarray(action_mask, dtype=np.int8)))


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_moves(player: Player, moves: int) -> list[float]:
    """Each move's wall clock on a connect-four-shaped observation, one column full."""
    board = np.zeros((6, 7, 2), dtype=np.int8)
    mask = np.array([1, 1, 1, 0, 1, 1, 1], dtype=np.int8)
    player.reset(0, {"seed": 1})
    times = []
    for _ in range(moves):
        started = time.perf_counter()
        player.act(board, mask)
        times.append(time.perf_counter() - started)
    return times


def overhead(moves: int, rounds: int) -> dict[str, Any]:
    inside, outside = [], []
    for _ in range(rounds):
        outside.append(statistics.fmean(time_moves(InProcessAgent(RANDOM), moves)))
        with SandboxedAgent(RANDOM, limits=LIMITS) as agent:
            samples = time_moves(agent, moves)
        inside.append(statistics.fmean(samples))
    # The median round of each: one round slowed by a neighbour's burst does not decide.
    in_ms, out_ms = 1000 * statistics.median(inside), 1000 * statistics.median(outside)
    return {
        "sandbox_overhead_ms_per_move": round(in_ms - out_ms, 4),
        "sandboxed_ms_per_move": round(in_ms, 4),
        "in_process_ms_per_move": round(out_ms, 4),
        "sandboxed_p99_ms_last_round": round(1000 * sorted(samples)[int(0.99 * moves)], 4),
        "moves_per_round": moves,
        "rounds": rounds,
    }


def duels(make: Callable[[], TurnGame], matches: int, *, per_match: bool) -> dict[str, Any]:
    """MATCHES between two sandboxed random agents, in duels of 10 as the arena plays them:
    one sandbox per agent per duel (reset each match), or fresh ones every match."""
    make().reset(0)  # the env's imports are not the matches' cost
    cpu, wall = _cpu(), time.perf_counter()
    results: list[MatchResult] = []
    for first in range(0, matches, 10):
        results += play_duel(
            make,
            (RANDOM, RANDOM),
            matches=min(10, matches - first),
            limits=LIMITS,
            game_info={},
            seed=first,
            sandbox_per_match=per_match,
        ).matches
    cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    failures = [r.failure for r in results if r.failure is not None]
    return {
        "matches": matches,
        "matches_per_minute_per_core": round(60 * matches / cpu, 1),
        "matches_per_minute_wall": round(60 * matches / wall, 1),
        "cpu_s_per_match": round(cpu / matches, 4),
        "wall_s": round(wall, 3),
        "moves_per_match": round(statistics.fmean(r.moves for r in results), 1),
        "failures": [f"{f.seat}: {f.failure.kind}: {f.failure.reason}" for f in failures],
    }


# (agent, game_info, limits, the failure kind that means the wall held)
def containment_checks(port: int) -> list[tuple[str, str, dict[str, Any], Limits, FailureKind]]:
    quick = Limits(start_seconds=30.0, move_seconds=1.0)
    spin = Limits(start_seconds=30.0, move_seconds=30.0, cpu_seconds=2)
    sleepy = Limits(start_seconds=30.0, move_seconds=0.5)
    return [
        ("network", "network", {"port": port}, quick, "crash"),
        ("project files", "files", {"op": "read", "path": __file__}, quick, "crash"),
        ("read-only root", "files", {"op": "write", "path": "/usr/x"}, quick, "crash"),
        ("read-only /dev", "files", {"op": "write", "path": "/dev/shm/x"}, quick, "crash"),
        ("file size", "files", {"op": "fill", "path": "/tmp/big", "mib": 32}, quick, "crash"),
        ("log flood", "chatty", {}, Limits(start_seconds=30.0, move_seconds=2.0), "timeout"),
        ("secrets", "secrets", {"names": ["DJANGO_SECRET_KEY"]}, quick, "crash"),
        ("fork bomb", "forkbomb", {}, Limits(start_seconds=30.0, move_seconds=10.0), "crash"),
        ("memory", "hog", {"mib": 8192}, quick, "memory"),
        ("cpu time", "spinner", {}, spin, "cpu"),
        ("wall clock", "sleeper", {"sleep": 60}, sleepy, "timeout"),
        ("crash", "crash", {}, quick, "crash"),
        ("garbage", "garbage", {}, quick, "garbage"),
        ("illegal move", "illegal", {}, quick, "illegal_move"),
        ("namespaces", "syscalls", {"call": "unshare"}, quick, "crash"),
    ]  # fmt: skip


def containments() -> dict[str, Any]:
    board, mask = np.zeros((3, 3, 2), dtype=np.int8), [1, 1, 0, 1, 1, 1, 1, 1, 1]
    outcomes: dict[str, str] = {}
    # A secret in this process's environment for the secrets check to look for.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-arena-not-a-real-secret")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        for name, agent, info, limits, expected in containment_checks(listener.getsockname()[1]):
            try:
                with SandboxedAgent(AGENTS / agent, limits=limits) as sandboxed:
                    sandboxed.reset(0, info)
                    sandboxed.act(board, mask)
                outcomes[name] = "escaped: it played a move"
            except AgentFailed as failed:
                kind, reason = failed.failure.kind, failed.failure.reason
                held = kind == expected and (expected != "crash" or "Error" in reason)
                outcomes[name] = f"{'held' if held else 'unexpected'}: {kind}: {reason[:120]}"
    passed = sum(outcome.startswith("held") for outcome in outcomes.values())
    return {"passed": passed, "total": len(outcomes), "checks": outcomes}


def run(*, moves: int, rounds: int, matches: int) -> dict[str, Any]:
    runtime = Runtime.default()
    per_move = overhead(moves, rounds)
    games: dict[str, dict[str, Any]] = {}
    for name, make in (("tictactoe", tictactoe), ("connect_four", connect_four)):
        games[name] = duels(make, matches, per_match=False)
        games[f"{name}_sandbox_per_match"] = duels(make, matches, per_match=True)
    duel_10 = duels(connect_four, 10, per_match=False)["wall_s"]
    duel_10_fresh = duels(connect_four, 10, per_match=True)["wall_s"]
    walls = containments()
    return {
        "tictactoe_matches_per_minute_per_core": games["tictactoe"]["matches_per_minute_per_core"],
        "connect_four_matches_per_minute_per_core": games["connect_four"][
            "matches_per_minute_per_core"
        ],
        "sandbox_overhead_ms_per_move": per_move["sandbox_overhead_ms_per_move"],
        "connect_four_duel_10_s": duel_10,
        "connect_four_duel_10_sandbox_per_match_s": duel_10_fresh,
        "containment_checks_passed": walls["passed"],
        "containment_checks_total": walls["total"],
        "games_source": GAMES_SOURCE,
        "cgroup": cgroup.describe(),
        "python_in_sandbox": str(runtime.python),
        "per_move": per_move,
        "games": games,
        "containments": walls["checks"],
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"games: {result['games_source']}; cgroup: {result['cgroup']}",
        "per move: sandboxed {sandboxed_ms_per_move} ms, in-process {in_process_ms_per_move} "
        "ms, overhead {sandbox_overhead_ms_per_move} ms".format(**result["per_move"]),
    ]
    for name, figures in result["games"].items():
        lines.append(
            f"{name}: {figures['matches_per_minute_per_core']} matches/min/core, "
            f"{figures['matches_per_minute_wall']} /min wall, {figures['moves_per_match']} moves"
        )
    lines.append(
        f"connect four duel of 10: {result['connect_four_duel_10_s']} s (a sandbox per agent "
        f"per duel), {result['connect_four_duel_10_sandbox_per_match_s']} s (per match)"
    )
    lines.append(
        f"containments: {result['containment_checks_passed']}/{result['containment_checks_total']}"
    )
    lines += [f"  {name}: {outcome}" for name, outcome in result["containments"].items()]
    return "\n".join(lines)
