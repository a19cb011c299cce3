"""Tower of Hanoi, specified by playing it through its four keys."""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Iterator
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from games.engine.registry import register_all
from games.envs.hanoi import (
    LEFT,
    MAX_DISKS,
    MIN_DISKS,
    NOOP,
    PALETTE,
    PICKDROP,
    REWARD_ILLEGAL,
    REWARD_SOLVED,
    RIGHT,
    TowerOfHanoiEnv,
)

Step = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


def optimal_moves(n: int, src: int = 0, dst: int = 2, via: int = 1) -> Iterator[tuple[int, int]]:
    if n == 0:
        return
    yield from optimal_moves(n - 1, src, via, dst)
    yield src, dst
    yield from optimal_moves(n - 1, via, dst, src)


def cursor_to(cursor: int, peg: int) -> list[int]:
    """The shortest key presses from one peg to another, using the wrap-around."""
    return {0: [], 1: [RIGHT], 2: [LEFT]}[(peg - cursor) % 3]


def actions_for(n: int) -> list[list[int]]:
    """Key presses for each optimal disk move: walk to src, pick, walk to dst, drop."""
    cursor = 0
    per_move = []
    for src, dst in optimal_moves(n):
        per_move.append([*cursor_to(cursor, src), PICKDROP, *cursor_to(src, dst), PICKDROP])
        cursor = dst
    return per_move


def make_env(n_disks: int = 3, **kwargs: object) -> TowerOfHanoiEnv:
    env = TowerOfHanoiEnv(n_disks=n_disks, **kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    return env


def play(env: TowerOfHanoiEnv, *actions: int) -> Step:
    """Press the keys in order; the last step's result."""
    assert actions
    for action in actions:
        result = env.step(action)
    return result


@pytest.mark.parametrize("n_disks", range(MIN_DISKS, MAX_DISKS + 1))
def test_it_solves_in_2_to_the_n_minus_1_moves_and_terminates_with_the_reward(
    n_disks: int,
) -> None:
    env = make_env(n_disks)
    rewards = []
    for i, presses in enumerate(actions_for(n_disks)):
        for action in presses:
            obs, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            assert not info["illegal"]
            assert not truncated
        assert info["moves"] == i + 1
    assert info["moves"] == 2**n_disks - 1
    assert info["best_moves"] == 2**n_disks - 1  # said on the solving step, for the page
    assert terminated
    assert reward == REWARD_SOLVED
    assert sum(rewards) == REWARD_SOLVED
    assert list(obs[:n_disks]) == [2] * n_disks
    assert obs[n_disks + 1] == 0


def test_it_does_not_terminate_before_the_last_disk_lands() -> None:
    env = make_env(3)
    presses = [action for move in actions_for(3) for action in move]
    for action in presses[:-1]:
        _, reward, terminated, _, _ = env.step(action)
        assert not terminated
        assert reward == 0.0


def test_it_refuses_an_illegal_drop_and_leaves_the_state_unchanged() -> None:
    env = make_env(3)
    # Disk 1 to peg 1, then carry disk 2 over to it.
    obs_before, *_ = play(env, PICKDROP, RIGHT, PICKDROP, LEFT, PICKDROP, RIGHT)
    frame_before = env.render()

    obs, reward, terminated, truncated, info = env.step(PICKDROP)

    assert info == {"moves": 1, "illegal": True}
    assert reward == REWARD_ILLEGAL
    assert not terminated and not truncated
    np.testing.assert_array_equal(obs, obs_before)
    np.testing.assert_array_equal(env.render(), frame_before)
    assert obs[1] == 3  # disk 2 is still in hand


def test_it_does_nothing_when_picking_from_an_empty_peg() -> None:
    env = make_env(3)
    obs_before, *_ = env.step(RIGHT)

    obs, reward, terminated, truncated, info = env.step(PICKDROP)

    np.testing.assert_array_equal(obs, obs_before)
    assert reward == 0.0
    assert info == {"moves": 0, "illegal": False}
    assert not terminated and not truncated


def test_it_picks_up_the_top_disk_under_the_cursor() -> None:
    env = make_env(3)
    obs, *_ = env.step(PICKDROP)
    assert list(obs) == [3, 0, 0, 0, 1]  # disk 1 held, cursor on peg 0, holding disk 1


def test_it_puts_a_disk_back_without_counting_a_move() -> None:
    env = make_env(3)
    start, _ = env.reset()
    obs, reward, _, _, info = play(env, PICKDROP, PICKDROP)
    np.testing.assert_array_equal(obs, start)
    assert reward == 0.0
    assert info == {"moves": 0, "illegal": False}


def test_it_wraps_the_cursor_both_ways() -> None:
    env = make_env(3)
    cursor = 3  # obs index of the cursor with 3 disks
    assert env.step(LEFT)[0][cursor] == 2
    assert env.step(RIGHT)[0][cursor] == 0
    assert play(env, RIGHT, RIGHT, RIGHT)[0][cursor] == 0


def test_it_ignores_noop() -> None:
    env = make_env(3)
    before, *_ = env.step(PICKDROP)
    obs, reward, _, _, info = env.step(NOOP)
    np.testing.assert_array_equal(obs, before)
    assert reward == 0.0
    assert info == {"moves": 0, "illegal": False}


def test_it_rejects_unknown_actions() -> None:
    env = make_env(3)
    with pytest.raises(ValueError, match="Unknown action 4"):
        env.step(4)


def test_it_names_its_actions_for_the_keyboard() -> None:
    assert make_env().get_action_meanings() == ["NOOP", "LEFT", "RIGHT", "PICKDROP"]


def test_it_returns_plain_json_info() -> None:
    env = make_env(3)
    _, info = env.reset(seed=1)
    assert json.loads(json.dumps(info)) == {"moves": 0, "illegal": False}
    *_, info = env.step(PICKDROP)
    assert type(info["moves"]) is int and type(info["illegal"]) is bool


def test_it_renders_a_small_frame_in_a_few_flat_colours() -> None:
    env = make_env(MAX_DISKS)
    play(env, PICKDROP, RIGHT, PICKDROP, LEFT, PICKDROP)  # a disk on each of two pegs, one held
    frame = env.render()

    assert frame is not None
    assert frame.shape == (160, 240, 3)
    assert frame.dtype == np.uint8
    colours = {tuple(int(c) for c in px) for px in frame.reshape(-1, 3)}
    assert colours == set(PALETTE)  # every colour in use, and nothing in between


def test_it_renders_differently_when_the_state_changes() -> None:
    env = make_env(3)
    frames = [env.render()]
    for action in (RIGHT, LEFT, PICKDROP, RIGHT, PICKDROP):
        env.step(action)
        frames.append(env.render())
    for before, after in itertools.pairwise(frames):
        assert before is not None and after is not None
        assert not np.array_equal(before, after)


def test_it_renders_identically_for_identical_states() -> None:
    walked = make_env(4)
    play(walked, PICKDROP, LEFT, PICKDROP, RIGHT, LEFT)  # disk 1 to peg 2, wander back
    walked_obs, *_ = play(walked, PICKDROP, LEFT, PICKDROP)  # ... then disk 1 to peg 1
    direct = make_env(4)
    direct_obs, *_ = play(direct, PICKDROP, RIGHT, PICKDROP)  # disk 1 to peg 1

    np.testing.assert_array_equal(walked_obs, direct_obs)
    np.testing.assert_array_equal(walked.render(), direct.render())


def test_it_renders_nothing_without_a_render_mode() -> None:
    assert make_env(render_mode=None).render() is None


def test_it_is_deterministic_for_the_same_seed_and_actions() -> None:
    actions = np.random.default_rng(7).integers(0, 4, size=300)
    envs = [TowerOfHanoiEnv(n_disks=5), TowerOfHanoiEnv(n_disks=5)]
    starts = [env.reset(seed=42) for env in envs]
    np.testing.assert_array_equal(starts[0][0], starts[1][0])
    for action in actions:
        a, b = (env.step(int(action)) for env in envs)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
        np.testing.assert_array_equal(envs[0].render(), envs[1].render())


def test_it_starts_the_same_whatever_the_seed() -> None:
    env = make_env(4)
    env.step(PICKDROP)
    obs, info = env.reset(seed=123)
    assert list(obs) == [0, 0, 0, 0, 0, 0]
    assert info == {"moves": 0, "illegal": False}


def test_it_passes_the_gymnasium_env_checker() -> None:
    env = gymnasium.make("arcade/TowerOfHanoi-v0", n_disks=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warnings would hint at an API slip; fail on them
        check_env(env.unwrapped)


@pytest.mark.parametrize("n_disks", [0, 2, 9, 3.0, "4", True])
def test_it_rejects_a_tower_size_out_of_range(n_disks: object) -> None:
    with pytest.raises(ValueError, match="n_disks must be an int from 3 to 8"):
        TowerOfHanoiEnv(n_disks=n_disks)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_moves", [0, -1, 2.5])
def test_it_rejects_a_bad_move_cap(max_moves: object) -> None:
    with pytest.raises(ValueError, match="max_moves must be a positive int or None"):
        TowerOfHanoiEnv(max_moves=max_moves)  # type: ignore[arg-type]


def test_it_rejects_an_unknown_render_mode() -> None:
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        TowerOfHanoiEnv(render_mode="human")


def test_it_truncates_when_the_move_cap_is_reached() -> None:
    env = make_env(3, max_moves=2)
    *_, truncated, info = play(env, PICKDROP, RIGHT, PICKDROP)
    assert not truncated and info["moves"] == 1
    *_, truncated, info = play(env, LEFT, PICKDROP, PICKDROP)  # put back: not a move
    assert not truncated and info["moves"] == 1
    _, _, terminated, truncated, info = play(env, PICKDROP, LEFT, PICKDROP)  # disk 2 to peg 2
    assert info["moves"] == 2
    assert truncated and not terminated


def test_it_terminates_rather_than_truncates_when_solved_on_the_last_allowed_move() -> None:
    env = make_env(3, max_moves=7)
    *_, terminated, truncated, info = play(env, *[a for move in actions_for(3) for a in move])
    assert info["moves"] == 7
    assert terminated and not truncated


def test_it_is_registered_with_gymnasium() -> None:
    register_all()
    register_all()  # a second registration is a no-op, not a warning
    env = gymnasium.make("arcade/TowerOfHanoi-v0", render_mode="rgb_array", n_disks=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,)
    assert env.render().shape == (160, 240, 3)  # type: ignore[union-attr]
    assert env.unwrapped.get_action_meanings()[PICKDROP] == "PICKDROP"  # type: ignore[attr-defined]
    env.close()
