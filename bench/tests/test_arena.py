"""``bench arena``'s pure parts: PettingZoo's board games as the match's TurnGame, played by
the in-process twin of the random agent. No figure is asserted (the machine is shared)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arena.sandbox.match import play_match
from bench.arena import RANDOM, InProcessAgent, PettingZooGame, connect_four, tictactoe


@pytest.mark.parametrize("make", [tictactoe, connect_four])
def test_it_plays_a_board_game_to_its_end(make: Callable[[], PettingZooGame]) -> None:
    results = [
        play_match(make(), [InProcessAgent(RANDOM), InProcessAgent(RANDOM)], seed=s, game_info={})
        for s in range(6)
    ]
    for result in results:
        assert result.failure is None
        assert result.moves >= 5
        assert sum(result.scores) == 0.0
        assert result.winner == (None if result.scores[0] == 0 else int(result.scores[1] > 0))
    assert {result.winner for result in results} - {None}  # random play wins sometimes
