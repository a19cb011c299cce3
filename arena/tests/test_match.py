"""A match between sandboxed agents ends at the game's end, or as a loss for an agent that fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arena.sandbox.agent import SandboxedAgent
from arena.sandbox.limits import Limits
from arena.sandbox.match import play_duel, play_match

pytestmark = pytest.mark.sandbox

AGENTS = Path(__file__).resolve().parent / "agents"
LIMITS = Limits(start_seconds=30.0, move_seconds=5.0)


class Nim:
    """Seven stones, take one to three; who takes the last one wins."""

    def reset(self, seed: int) -> None:
        self.stones, self.mover, self.last = 7, 0, -1

    def to_move(self) -> int | None:
        return None if self.stones == 0 else self.mover

    def observation(self, seat: int) -> np.ndarray:
        return np.array([self.stones], dtype=np.int8)

    def action_mask(self, seat: int) -> np.ndarray:
        return np.array([take < self.stones for take in range(3)], dtype=np.int8)

    def step(self, action: int) -> None:
        self.stones -= action + 1
        self.last, self.mover = self.mover, 1 - self.mover

    def scores(self) -> tuple[float, float]:
        return (1.0, -1.0) if self.last == 0 else (-1.0, 1.0)


def test_it_plays_a_match_to_its_end() -> None:
    with (
        SandboxedAgent(AGENTS / "random", limits=LIMITS) as first,
        SandboxedAgent(AGENTS / "random", limits=LIMITS) as second,
    ):
        results = [play_match(Nim(), [first, second], seed=s, game_info={}) for s in range(4)]
    for result in results:
        assert result.failure is None
        assert result.winner in (0, 1)
        assert 3 <= result.moves <= 7
        assert len(result.move_seconds[0]) + len(result.move_seconds[1]) == result.moves


def test_a_failing_agent_loses_its_match_with_the_reason() -> None:
    with (
        SandboxedAgent(AGENTS / "random", limits=LIMITS) as first,
        SandboxedAgent(AGENTS / "crash", limits=LIMITS) as second,
    ):
        result = play_match(Nim(), [first, second], seed=0, game_info={})
    assert result.winner == 0
    assert result.scores == (1.0, -1.0)
    assert result.failure is not None and result.failure.seat == 1
    assert result.failure.failure.kind == "crash"
    assert result.failure.failure.reason == "ValueError: boom: the agent's own bug"
    assert result.moves == 1


def test_a_duel_alternates_the_first_mover_in_one_sandbox_each() -> None:
    duel = play_duel(Nim, (AGENTS / "random", AGENTS / "random"), matches=4, limits=LIMITS,
                     game_info={})  # fmt: skip
    assert duel.first_movers == [0, 1, 0, 1]
    assert all(match.failure is None for match in duel.matches)
    assert all(winner in (0, 1) for winner in duel.winners())


def test_a_failing_agent_loses_every_match_of_its_duel_in_a_fresh_sandbox_each() -> None:
    duel = play_duel(Nim, (AGENTS / "crash", AGENTS / "random"), matches=3, limits=LIMITS,
                     game_info={})  # fmt: skip
    assert duel.winners() == [1, 1, 1]
    failures = [match.failure for match in duel.matches]
    assert [failure.seat for failure in failures if failure] == [0, 1, 0]
    assert all(failure and failure.failure.kind == "crash" for failure in failures)


def test_a_duel_may_start_fresh_sandboxes_for_every_match() -> None:
    duel = play_duel(Nim, (AGENTS / "random", AGENTS / "crash"), matches=2, limits=LIMITS,
                     game_info={}, sandbox_per_match=True)  # fmt: skip
    assert duel.first_movers == [0, 1]
    assert duel.winners() == [0, 0]
    assert [m.failure.failure.kind for m in duel.matches if m.failure] == ["crash"] * 2
