"""Observation transforms agree with ALE and with Gymnasium's Atari wrappers on the same frames."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from exports import observations
from exports.replay import ReplayMismatch, ale_ram
from games.engine.machines import Palette, make_env
from recording import stepcolumns
from recording.frames import EpisodeData, episode_data
from recording.recorder import STEP_FIELDS

ATARI = {"frameskip": 1, "repeat_action_probability": 0.0}


def play(env_id: str, seed: int, blocks: int) -> tuple[EpisodeData, list[Any], list[Any]]:
    """Play the same actions through the Atari wrappers and frame by frame on a bare env.

    Returns the bare env's recording (as the platform stores it) and the wrapped env's
    observations and rewards.
    """
    bare = make_env(env_id, ATARI)
    wrapped = FrameStackObservation(
        AtariPreprocessing(make_env(env_id, ATARI), noop_max=0, frame_skip=4, screen_size=84),
        stack_size=4,
    )
    first, _ = wrapped.reset(seed=seed)
    bare.reset(seed=seed)
    ale = bare.unwrapped.ale  # type: ignore[attr-defined]
    palette = Palette()
    frames = [ale.getScreen()]
    palette.learn(frames[0], ale.getScreenRGB())
    steps: dict[str, list[Any]] = {name: [] for name in STEP_FIELDS}
    wrapped_obs, wrapped_rewards = [first], []
    rng = np.random.default_rng(seed)
    for _ in range(blocks):
        action = int(rng.integers(bare.action_space.n))  # type: ignore[attr-defined]
        obs, reward, terminated, truncated, _ = wrapped.step(action)
        wrapped_obs.append(obs)
        wrapped_rewards.append(reward)
        for _ in range(4):
            _, r, term, trunc, _ = bare.step(action)
            frames.append(ale.getScreen())
            palette.learn(frames[-1], ale.getScreenRGB())
            for name, value in zip(
                ("action", "reward", "terminated", "truncated"),
                (action, r, term, trunc),
                strict=True,
            ):
                steps[name].append(value)
            for name in STEP_FIELDS[4:]:
                steps[name].append(None)
            if term or trunc:
                break
        if terminated or truncated:
            break
    columns = stepcolumns.with_missing_columns(steps, len(steps["action"]))
    data = EpisodeData(
        frames=np.stack(frames), pixel_format="indexed", palette=palette.rgb, steps=columns
    )
    return data, wrapped_obs, wrapped_rewards


def test_it_makes_grayscale_as_ale_does() -> None:
    env = make_env("ALE/MsPacman-v5", ATARI)
    env.reset(seed=1)
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    palette = Palette()
    for step in range(200):
        env.step(step % 9)
        indices = ale.getScreen()
        palette.learn(indices, ale.getScreenRGB())
        gray = observations.gray_lut(palette.rgb)[indices]
        assert np.array_equal(gray, ale.getScreenGrayscale())


def test_it_preprocesses_like_gymnasiums_atari_wrappers_to_the_end_of_a_game() -> None:
    data, wrapped_obs, wrapped_rewards = play("ALE/Breakout-v5", seed=3, blocks=3000)
    assert data.steps["terminated"][-1], "the game should end within the test"
    trajectory = observations.transform("atari", data)
    assert trajectory.observations.shape == (len(wrapped_obs), 4, 84, 84)
    assert np.array_equal(trajectory.observations, np.stack(wrapped_obs))
    assert trajectory.rewards.tolist() == wrapped_rewards
    assert trajectory.terminations[-1] and not trajectory.terminations[:-1].any()
    assert trajectory.raw_steps.tolist() == list(range(0, 4 * len(wrapped_rewards), 4))


def test_it_drops_a_last_group_cut_short_by_the_recording() -> None:
    data, _, _ = play("ALE/Pong-v5", seed=1, blocks=5)
    for name in STEP_FIELDS:
        del stepcolumns.by_name(data.steps)[name][-2:]
    data.frames = data.frames[:-2]
    trajectory = observations.transform("atari", data)
    assert len(trajectory.actions) == 4 and len(trajectory.observations) == 5


def test_it_resizes_as_opencv_inter_area() -> None:
    import cv2  # a dev dependency: Arcade itself resizes without it

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 210, 160), dtype=np.uint8)
    ours = observations.area_resize(images, (84, 84))
    theirs = np.stack([cv2.resize(i, (84, 84), interpolation=cv2.INTER_AREA) for i in images])
    assert np.array_equal(ours, theirs)


def test_it_keeps_rgb_indices_and_steps_as_recorded() -> None:
    data, _, _ = play("ALE/Pong-v5", seed=2, blocks=3)
    assert np.array_equal(observations.transform("indices", data).observations, data.frames)
    rgb = observations.transform("rgb", data)
    assert rgb.observations.shape == (13, 210, 160, 3)
    assert np.array_equal(rgb.observations, data.palette[data.frames])  # type: ignore[index]
    assert rgb.actions.tolist() == data.steps["action"]


def test_it_refuses_atari_only_observations_for_rgb_games() -> None:
    data = EpisodeData(
        frames=np.zeros((2, 4, 4, 3), np.uint8),
        pixel_format="rgb",
        palette=None,
        steps=stepcolumns.with_missing_columns({name: [0] for name in STEP_FIELDS}, 1),
    )
    for name in ("indices", "ram", "atari"):
        with pytest.raises(observations.ObservationUnavailable, match="Atari"):
            observations.transform(name, data)
    assert observations.transform("grayscale", data).observations.shape == (2, 4, 4)


@pytest.mark.django_db(transaction=True)
def test_it_replays_ram_that_matches_a_fresh_emulator(alice: Any, pong: Any, recorded: Any) -> None:
    episode = recorded(user=alice, game=pong, steps=40)
    trajectory = observations.transform("ram", episode_data(episode), episode=episode, ram=ale_ram)
    env = gym.make("ALE/Pong-v5", **episode.env_spec["env_kwargs"])
    env.reset(seed=episode.seed)
    expected = [env.unwrapped.ale.getRAM().copy()]  # type: ignore[attr-defined]
    for action in episode.transitions.order_by("step").values_list("action", flat=True):
        env.step(action)
        expected.append(env.unwrapped.ale.getRAM().copy())  # type: ignore[attr-defined]
    assert trajectory.observations.shape == (41, 128)
    assert np.array_equal(trajectory.observations, np.stack(expected))


@pytest.mark.django_db(transaction=True)
def test_it_refuses_ram_when_the_replay_shows_other_frames(
    alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=40)
    episode.env_spec["env_id"] = "ALE/Breakout-v5"  # same screen size, another game
    with pytest.raises(ReplayMismatch, match="differs"):
        list(ale_ram(episode))
