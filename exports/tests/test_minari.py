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
from recording.frames import episode_data, palette_array

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
