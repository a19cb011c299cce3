"""Minari datasets load offline with minari.load_dataset and give back exactly what was played."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import minari
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from exports.observations import transform
from exports.services import EpisodeQuery, dataset_export, user_pseudonym
from exports.tests.test_parquet import two_key_presses
from play import scripted
from recording.frames import episode_data, palette_array
from recording.tests.helpers import record_episode

pytestmark = pytest.mark.django_db(transaction=True)


def load(root: Path, name: str) -> Any:
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        return minari.load_dataset(name)
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def test_it_round_trips_an_atari_episode_bit_exact(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=70)
    summary = dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="minari")
    assert summary.exported == 1 and summary.steps == 70
    dataset = load(tmp_path, "arcade/pong/rgb-v0")
    assert dataset.total_episodes == 1 and dataset.total_steps == 70
    loaded = next(dataset.iterate_episodes())
    transitions = list(episode.transitions.order_by("step"))
    header_palette = None
    for chunk in episode.chunks.order_by("index"):
        from recording import chunkfile

        with chunk.file.open("rb") as handle:
            header_palette = chunkfile.read_header(handle.read())["palette"]
    expected = palette_array(header_palette)[np.stack(episode.played)]
    assert loaded.observations.shape == (71, 210, 160, 3)
    assert np.array_equal(loaded.observations, expected)
    assert loaded.actions.tolist() == [t.action for t in transitions]
    assert loaded.rewards.tolist() == [t.reward for t in transitions]
    assert loaded.terminations.tolist() == [t.terminated for t in transitions]
    assert loaded.truncations.tolist() == [t.truncated for t in transitions]


def test_it_round_trips_hanoi_rgb_frames_without_an_atari_spec(
    tmp_path: Path, alice: Any, hanoi: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=hanoi, steps=12)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="minari")
    loaded = next(load(tmp_path, "arcade/tower-of-hanoi/rgb-v0").iterate_episodes())
    assert np.array_equal(loaded.observations, np.stack(episode.played))


def test_it_appends_new_episodes_to_the_dataset_with_their_metadata(
    tmp_path: Path, alice: Any, bob: Any, pong: Any, recorded: Any
) -> None:
    first = recorded(user=alice, game=pong, steps=30)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path))
    second = recorded(user=bob, game=pong, steps=20)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path))
    dataset = load(tmp_path, "arcade/pong/rgb-v0")
    assert dataset.total_episodes == 2 and dataset.total_steps == 50
    metadata = list(dataset.storage.get_episode_metadata([0, 1]))
    assert [m["arcade_episode"] for m in metadata] == [str(first.pk), str(second.pk)]
    assert [m["user"] for m in metadata] == [user_pseudonym(alice.pk), user_pseudonym(bob.pk)]
    assert [m["seed"] for m in metadata] == [first.seed, second.seed]
    assert "alice" not in (tmp_path / "arcade/pong/rgb-v0/data/0/metadata.json").read_text()


def test_it_writes_arrow_storage_when_asked(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=20)
    dataset_export(
        query=EpisodeQuery(),
        destination=str(tmp_path),
        format="minari-arrow",
        observation="indices",
    )
    dataset = load(tmp_path, "arcade/pong/indices-v0")
    assert dataset.storage.metadata["data_format"] == "arrow"
    loaded = next(dataset.iterate_episodes())
    assert np.array_equal(loaded.observations, np.stack(episode.played))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Minari asks for an author and the like
@pytest.mark.parametrize("observation", ["rgb", "indices"])
def test_it_loads_the_same_arrays_as_a_dataset_minari_writes_itself(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any, observation: str
) -> None:
    episode = recorded(user=alice, game=pong, steps=90)
    dataset_export(
        query=EpisodeQuery(),
        destination=str(tmp_path / "ours"),
        format="minari",
        observation=observation,
    )
    ours = load(tmp_path / "ours", f"arcade/pong/{observation}-v0")
    loaded = next(ours.iterate_episodes())
    data = episode_data(episode)
    trajectory = transform(observation, data, episode=episode)
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path / "minari")
    try:
        theirs = minari.create_dataset_from_buffers(
            dataset_id=f"arcade/pong/{observation}-v0",
            buffer=[
                EpisodeBuffer(
                    seed=episode.seed,
                    observations=trajectory.observations,
                    actions=trajectory.actions,
                    rewards=trajectory.rewards,
                    terminations=trajectory.terminations,
                    truncations=trajectory.truncations,
                )
            ],
            observation_space=ours.observation_space,
            action_space=ours.action_space,
            algorithm_name="minari's own writer",
            data_format="parquet",
            jpeg_encoding=False,
        )
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
    reference = next(theirs.iterate_episodes())
    for name in ("observations", "actions", "rewards", "terminations", "truncations"):
        mine, expected = getattr(loaded, name), getattr(reference, name)
        assert mine.dtype == expected.dtype and np.array_equal(mine, expected), name
    played = np.stack(episode.played)
    if observation == "rgb":
        assert data.palette is not None
        played = data.palette[played]
    assert np.array_equal(loaded.observations, played)
    if observation == "indices":
        (metadata,) = ours.storage.get_episode_metadata([0])
        rgb = np.asarray(metadata["palette"], np.uint8)[loaded.observations]
        assert np.array_equal(rgb, data.rgb())
    assert ours.total_steps == theirs.total_steps == 90
    assert ours.storage.metadata["data_format"] == "parquet"
    assert ours.storage.metadata["jpeg_encoding"] is False


STICKY = {"frameskip": 1, "repeat_action_probability": 0.25, "full_action_space": False}


def replay_from_minari(dataset: Any) -> list[int]:
    """docs/datasets.md's recipe, "Replaying a Minari episode": the steps after which the
    replay differs from the dataset (none, when the dataset is enough to replay it)."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    (episode,) = dataset.iterate_episodes()
    (metadata,) = dataset.storage.get_episode_metadata(dataset.episode_indices)
    env = dataset.recover_environment(repeat_action_probability=0.0, frameskip=1)
    observation, _ = env.reset(seed=metadata["seed"])
    differs = [] if np.array_equal(observation, episode.observations[0]) else [0]
    for t in range(len(episode.actions)):
        reward = 0.0
        for action in episode.infos["applied"][t + 1]:  # row 0 is the reset's
            observation, frame_reward, terminated, _, _ = env.step(int(action))
            reward += float(frame_reward)
        same = (reward, terminated) == (episode.rewards[t], episode.terminations[t])
        if not same or not np.array_equal(observation, episode.observations[t + 1]):
            differs.append(t + 1)
    env.close()
    return differs


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_sticky_actions_episode_replays_bit_exactly_from_the_minari_dataset_alone(
    tmp_path: Path, alice: Any, make_game: Any, eager_celery: None, redis_flushed: None
) -> None:
    breakout = make_game("breakout", env_kwargs=STICKY)
    # A new action every other step: about one step in eight applies the one before instead.
    record_episode(user=alice, game=breakout, steps=300, policy=scripted.hold_each_action(2))
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="minari")

    dataset = load(tmp_path, "arcade/breakout/rgb-v0")

    (loaded,) = dataset.iterate_episodes()
    applied = loaded.infos["applied"][1:, 0]
    assert (applied != loaded.actions).sum() > 10  # the sticky repeats are in the data
    assert replay_from_minari(dataset) == []
    assert loaded.infos["lives"].shape == (301,)
    assert loaded.infos["keys"].shape == (301,)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_minari_episodes_carry_each_steps_input(
    tmp_path: Path, alice: Any, pong: Any, eager_celery: None, redis_flushed: None
) -> None:
    record_episode(user=alice, game=pong, steps=20, stamps=two_key_presses)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="minari")

    (loaded,) = load(tmp_path, "arcade/pong/rgb-v0").iterate_episodes()

    infos = loaded.infos
    assert infos["keys"][1:].tolist() == [""] * 5 + ["ArrowLeft ArrowRight"] * 7 + ["Space"] * 8
    assert np.flatnonzero(infos["new_input"]).tolist() == [6, 13]  # steps 5 and 12
    assert infos["input_seq"].tolist() == [0] * 6 + [1] * 7 + [2] * 8
    assert infos["client_frame"][6] == 3 and infos["client_frame"][1] == -1
    assert np.isnan(infos["t_key"][1]) and infos["t_key"][6] == 2012.5
    assert "applied" not in infos  # Pong here has no sticky actions


def test_an_interrupted_episode_goes_to_minari_up_to_its_last_stored_step(
    tmp_path: Path, alice: Any, pong: Any, eager_celery: None, redis_flushed: None
) -> None:
    from datetime import timedelta

    from recording import services
    from recording.tests.helpers import died_mid_play

    died_mid_play(alice, pong, stored=4)
    services.episodes_reap(silent_for=timedelta(seconds=60))
    dataset_export(
        query=EpisodeQuery(statuses=("incomplete",)), destination=str(tmp_path), format="minari"
    )

    dataset = load(tmp_path, "arcade/pong/rgb-v0")

    (loaded,) = dataset.iterate_episodes()
    assert loaded.observations.shape[0] == 100 and len(loaded.actions) == 99
    assert loaded.truncations.tolist() == [False] * 98 + [True]
    (metadata,) = dataset.storage.get_episode_metadata(dataset.episode_indices)
    assert (metadata["end_reason"], metadata["verification"]) == ("interrupted", "verified")
    assert metadata["cut_short"].startswith("interrupted: the live session was lost after 100")
