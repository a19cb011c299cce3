"""Quarto, specified by playing it: placing, giving, the four attributes, every line, draws."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from games.engine.registry import register_all
from games.envs.quarto import (
    DARK,
    GIVE,
    HEIGHT,
    HOLLOW,
    LINES,
    N_ACTIONS,
    NOOP,
    SQUARE,
    TALL,
    WIDTH,
    QuartoEnv,
    describe,
    shared,
)


def new_game() -> QuartoEnv:
    env = QuartoEnv()
    env.reset(seed=0)
    return env


def give(env: QuartoEnv, piece: int) -> dict:
    _, reward, terminated, _, info = env.step(GIVE + piece)
    assert not info["illegal"] and reward == 0 and not terminated
    return info


def place(env: QuartoEnv, cell: int) -> tuple[float, bool, dict]:
    _, reward, terminated, _, info = env.step(cell)
    assert not info["illegal"]
    return reward, terminated, info


def play_pieces(env: QuartoEnv, cells_and_pieces: list[tuple[int, int]]) -> tuple[float, bool]:
    """Each (cell, piece): the player to move is given ``piece`` and places it on ``cell``."""
    reward, terminated = 0.0, False
    for cell, piece in cells_and_pieces:
        give(env, piece)
        reward, terminated, _ = place(env, cell)
    return reward, terminated


def test_it_opens_with_player_0_giving_a_piece_to_player_1() -> None:
    env = new_game()
    obs, info = env.reset(seed=0)
    assert list(obs[:16]) == [-1] * 16
    assert obs[16] == -1  # nothing in hand
    assert obs[17] == 1 and obs[18] == 0  # the giving phase, player 0 to move
    mask = info["action_mask"]
    assert not mask[:GIVE].any(), "no cell may be placed on before a piece is given"
    assert mask[GIVE : GIVE + 16].all() and not mask[NOOP]


def test_it_hands_the_given_piece_to_the_opponent_who_places_it() -> None:
    env = new_game()
    info = give(env, 5)
    assert info["to_move"] == 1
    assert env.hand == 5 and env.phase == 0
    assert env.action_mask()[:16].all() and not env.action_mask()[GIVE:].any()
    _, _, info = place(env, 6)
    assert env.board[6] == 5 and env.hand == -1
    assert info["to_move"] == 1, "the placer then gives the next piece"
    assert not env.action_mask()[GIVE + 5], "a played piece cannot be given again"
    give(env, 0)
    assert env.to_move == 0


def test_it_refuses_a_taken_cell_and_a_played_piece_and_changes_nothing() -> None:
    env = new_game()
    give(env, 3)
    place(env, 0)
    give(env, 4)
    before = env._observation().copy()
    obs, reward, terminated, truncated, info = env.step(0)
    assert info["illegal"] and reward == 0 and not terminated and not truncated
    assert (obs == before).all() and env.to_move == 0
    place(env, 1)
    for refused in (GIVE + 3, GIVE + 4, NOOP, 2):  # played pieces, NOOP, a cell while giving
        _, _, _, _, info = env.step(refused)
        assert info["illegal"], refused
    assert (env._observation()[:16] == before[:16]).sum() == 15  # only cell 1 changed


def test_it_raises_for_an_action_that_is_no_action() -> None:
    env = new_game()
    for bad in (-1, N_ACTIONS, 1.5, True):
        with pytest.raises(ValueError, match="Unknown action"):
            env.step(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("attribute", [TALL, DARK, SQUARE, HOLLOW])
@pytest.mark.parametrize("one_way", [True, False])
def test_it_gives_the_win_to_whoever_places_a_fourth_piece_sharing_an_attribute(
    attribute: int, one_way: bool
) -> None:
    # Four pieces that agree on this attribute only (all with it, or all without it).
    others = [a for a in (TALL, DARK, SQUARE, HOLLOW) if a != attribute]
    base = attribute if one_way else 0
    pieces = [base, base | others[0] | others[1], base | others[1] | others[2], base | others[2]]
    assert shared(pieces) == attribute, describe(pieces[0])
    # Placed on row 0; fillers elsewhere, never completing a line.
    env = new_game()
    fillers = [p for p in range(16) if p not in pieces]
    moves = [(0, pieces[0]), (4, fillers[0]), (1, pieces[1]), (8, fillers[1]), (2, pieces[2])]
    reward, terminated = play_pieces(env, moves)
    assert not terminated
    giver = env.to_move
    assert giver is not None
    give(env, pieces[3])
    reward, terminated, info = place(env, 3)
    assert terminated and reward == 1.0
    assert info["winner"] == 1 - giver and info["line"] == [0, 1, 2, 3]
    assert info["to_move"] == -1 and not env.action_mask().any()


@pytest.mark.parametrize("line", LINES)
def test_it_wins_on_every_row_column_and_diagonal(line: tuple[int, ...]) -> None:
    env = new_game()
    tall = [TALL, TALL | DARK, TALL | SQUARE, TALL | HOLLOW]  # share only "tall"
    *first, last = line
    reward, terminated = play_pieces(env, list(zip(first, tall[:3], strict=True)))
    assert not terminated
    give(env, tall[3])
    reward, terminated, info = place(env, last)
    assert terminated and reward == 1.0 and info["line"] == list(line)


def test_it_does_not_win_with_four_pieces_sharing_nothing() -> None:
    env = new_game()
    # 0 and 15 differ everywhere, as do 3 (tall dark) and 12 (square hollow).
    reward, terminated = play_pieces(env, [(0, 0), (1, 15), (2, 3), (3, 12)])
    assert shared([0, 15, 3, 12]) == 0
    assert reward == 0 and not terminated and env.winner is None


def test_it_is_a_draw_when_the_board_fills_without_a_line() -> None:
    # A known full board with no line sharing an attribute, by rows (checked below).
    board = [12, 15, 7, 8, 1, 10, 3, 6, 0, 5, 4, 14, 2, 9, 13, 11]
    for line in LINES:
        assert shared([board[c] for c in line]) == 0, line
    env = new_game()
    rewards = []
    for cell, piece in enumerate(board):
        give(env, piece)
        reward, terminated, info = place(env, cell)
        rewards.append(reward)
        assert terminated == (cell == 15)
    assert rewards == [0.0] * 16
    assert info["winner"] == -1 and info["to_move"] == -1
    assert not env.action_mask().any()
    with pytest.raises(RuntimeError, match="over"):
        env.step(GIVE)


def test_it_masks_exactly_the_empty_cells_and_the_unplayed_pieces() -> None:
    env = new_game()
    rng = np.random.default_rng(1)
    while env.to_move is not None:
        mask = env.action_mask()
        if env.phase == 0:
            assert [bool(m) for m in mask[:16]] == [p == -1 for p in env.board]
            assert not mask[GIVE:].any()
        else:
            assert set(np.flatnonzero(mask[GIVE:NOOP])) == set(env.unplayed)
            assert not mask[:GIVE].any()
        env.step(int(rng.choice(np.flatnonzero(mask))))


def test_it_copies_a_game_to_try_moves_on_without_touching_the_game() -> None:
    env = new_game()
    give(env, 9)
    tried = env.copy()
    tried.step(4)
    assert env.board[4] == -1 and env.hand == 9 and tried.board[4] == 9


def test_it_draws_the_board_the_stock_and_the_piece_in_hand() -> None:
    env = new_game()
    start = env.render()
    assert start is not None and start.shape == (HEIGHT, WIDTH, 3) and start.dtype == np.uint8
    give(env, 15)
    given = env.render()
    assert given is not None and (given != start).any()
    place(env, 0)
    placed = env.render()
    assert placed is not None and (placed != given).any()
    assert QuartoEnv(render_mode=None).render() is None


def test_it_passes_gymnasiums_env_checker_and_is_registered() -> None:
    register_all()
    env = gymnasium.make("arcade/Quarto-v0")
    assert isinstance(env.unwrapped, QuartoEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(QuartoEnv(), skip_render_check=True)


def test_it_describes_a_piece_in_words() -> None:
    assert describe(0) == "short light round solid"
    assert describe(TALL | DARK | SQUARE | HOLLOW) == "tall dark square hollow"
