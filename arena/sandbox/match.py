"""A turn-based match between two agents: moves in turn until the game ends or an agent fails.

The game is anything with the ``TurnGame`` shape (the arena's board games, or a bench's
stand-in); the agents anything with ``Player``'s (a ``SandboxedAgent``, or a bench's in-process
twin). An agent's ``AgentFailed`` ends the match at once as a loss for that agent, with the
failure recorded; the other agent's seat wins. ``SandboxUnavailable`` (the machine failed, not
the agent) is not caught: the match is void, and its duel runs again. The agents are reset
here but not started or closed: the caller owns their sandboxes (one per match, or one per
duel, reset each match).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .agent import AgentFailed, Failure


class TurnGame(Protocol):
    def reset(self, seed: int) -> None: ...

    def to_move(self) -> int | None:
        """The seat to move, None once the game is over."""

    def observation(self, seat: int) -> np.ndarray: ...

    def action_mask(self, seat: int) -> np.ndarray: ...

    def step(self, action: int) -> None: ...

    def scores(self) -> tuple[float, float]:
        """Each seat's score once over: 1 a win, -1 a loss, 0 a draw."""


class Player(Protocol):
    def reset(self, seat: int, game_info: dict[str, Any]) -> None: ...

    def act(self, observation: np.ndarray, action_mask: Sequence[int] | np.ndarray) -> int: ...


@dataclasses.dataclass(frozen=True)
class SeatFailure:
    seat: int
    failure: Failure


@dataclasses.dataclass(frozen=True)
class MatchResult:
    winner: int | None  # None: a draw
    scores: tuple[float, float]
    moves: int
    move_seconds: list[list[float]]  # per seat, each move's wall clock as the runner saw it
    failure: SeatFailure | None = None  # the agent whose failure ended the match: it lost


def play_match(
    game: TurnGame, players: Sequence[Player], *, seed: int, game_info: dict[str, Any]
) -> MatchResult:
    """PLAYERS[0] in seat 0 (who moves first), PLAYERS[1] in seat 1, to the end."""
    timings: list[list[float]] = [[], []]
    moves = 0
    seat = 0
    try:
        for seat, player in enumerate(players):
            player.reset(seat, {**game_info, "seed": seed + seat})
        game.reset(seed)
        while (mover := game.to_move()) is not None:
            seat = mover
            started = time.perf_counter()
            action = players[seat].act(game.observation(seat), game.action_mask(seat))
            timings[seat].append(time.perf_counter() - started)
            game.step(action)
            moves += 1
    except AgentFailed as failed:
        scores = (-1.0, 1.0) if seat == 0 else (1.0, -1.0)
        return MatchResult(1 - seat, scores, moves, timings, SeatFailure(seat, failed.failure))
    scores = game.scores()
    winner = None if scores[0] == scores[1] else int(scores[1] > scores[0])
    return MatchResult(winner, scores, moves, timings)
