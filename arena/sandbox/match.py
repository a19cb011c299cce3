"""A turn-based match between two agents, and a duel of matches between two submissions.

A match: moves in turn until the game ends or an agent fails.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .agent import AgentFailed, Failure, SandboxedAgent
from .bwrap import Runtime
from .limits import Limits


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


@dataclasses.dataclass(frozen=True)
class DuelResult:
    """N matches between two submissions, A (0) and B (1), first mover alternating."""

    matches: list[MatchResult]  # seats as played: see first_movers
    first_movers: list[int]  # which submission moved first (sat in seat 0), match by match

    def winners(self) -> list[int | None]:
        """Each match's winning submission (0: A, 1: B), None for a draw."""
        return [
            None if match.winner is None else (first if match.winner == 0 else 1 - first)
            for match, first in zip(self.matches, self.first_movers, strict=True)
        ]


def play_duel(
    make_game: Callable[[], TurnGame],
    submissions: tuple[Path, Path],
    *,
    matches: int,
    limits: Limits,
    game_info: dict[str, Any],
    seed: int = 0,
    sandbox_per_match: bool = False,
    runtime: Runtime | None = None,
) -> DuelResult:
    """A duel: A moves first in even matches, B in odd ones.

    Each submission keeps one sandbox for the duel, reset before each match (its CPU limit
    covers the duel), and gets a fresh one after a failure, which lost that match. With
    ``sandbox_per_match`` each match starts two fresh sandboxes instead. SandboxUnavailable
    ends the duel (void: run it again), with every sandbox closed.
    """
    agents: list[SandboxedAgent | None] = [None, None]
    results, firsts = [], []
    try:
        for number in range(matches):
            for side, submission in enumerate(submissions):
                agent = agents[side]
                if agent is None or agent.failure is not None or sandbox_per_match:
                    if agent is not None:
                        agent.close()
                    # Both start before either is waited for: their imports overlap.
                    agent = SandboxedAgent(submission, limits=limits, runtime=runtime)
                    agents[side] = agent
                    agent.start()
            first = number % 2
            seats = [agents[first], agents[1 - first]]
            game = make_game()
            players = [seat for seat in seats if seat is not None]
            results.append(play_match(game, players, seed=seed + number, game_info=game_info))
            firsts.append(first)
    finally:
        for agent in agents:
            if agent is not None:
                agent.close()
    return DuelResult(results, firsts)
