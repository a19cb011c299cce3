"""The Parquet export opens with pandas, has the documented columns, and names no one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exports.card import STEP_FIELDS
from exports.services import EpisodeQuery, dataset_export, user_pseudonym

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_writes_steps_frames_and_episodes_that_pandas_reads(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=50)
    dataset_export(
        query=EpisodeQuery(), destination=str(tmp_path), format="parquet", observation="indices"
    )
    steps = pd.read_parquet(tmp_path / "steps")
    assert list(steps.columns) == [name for name, _, _ in STEP_FIELDS]
    transitions = list(episode.transitions.order_by("step"))
    assert steps.step.tolist() == list(range(50))
    assert steps.action.tolist() == [t.action for t in transitions]
    assert steps.reward.tolist() == [t.reward for t in transitions]
    assert steps.t_step.tolist() == [t.t_step for t in transitions]
    assert set(steps.game) == {"pong"} and set(steps.episode) == {str(episode.pk)}

    episodes = pd.read_parquet(tmp_path / "episodes")
    row = episodes.iloc[0]
    assert (row.steps, row.seed, row.env_id) == (50, episode.seed, "ALE/Pong-v5")
    frames = pd.read_parquet(tmp_path / "frames" / "pong")
    shape = list(row.observation_shape)
    observations = np.stack(frames.observation.to_numpy()).reshape(-1, *shape)
    assert observations.shape == (51, 210, 160)
    assert np.array_equal(observations, np.stack(episode.played))
    palette = np.asarray(row.palette, np.uint8).reshape(256, 3)
    assert palette[observations].shape == (51, 210, 160, 3)


def test_it_shows_users_by_pseudonym_never_by_email(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    recorded(user=alice, game=pong, steps=20)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    steps = pd.read_parquet(tmp_path / "steps")
    episodes = pd.read_parquet(tmp_path / "episodes")
    assert set(steps.user) == set(episodes.user) == {user_pseudonym(alice.pk)}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"alice" not in path.read_bytes(), path


def test_it_describes_fields_games_and_versions_in_the_card(
    tmp_path: Path, alice: Any, pong: Any, hanoi: Any, recorded: Any
) -> None:
    recorded(user=alice, game=pong, steps=20)
    recorded(user=alice, game=hanoi, steps=5)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    card = (tmp_path / "README.md").read_text()
    assert "2 episodes, 25 recorded steps, 2 games" in card
    for name, _, _ in STEP_FIELDS:
        assert f"| `{name}` |" in card
    assert "`ALE/Pong-v5`" in card and '"frameskip": 1' in card
    assert "Tower of Hanoi (`tower-of-hanoi`)" in card and '"n_disks": 3' in card
    assert "ale-py" in card and "gymnasium" in card
    assert pd.read_parquet(tmp_path / "frames" / "tower-of-hanoi").frame.tolist() == list(range(6))


def test_it_adds_a_part_per_run_and_rewrites_the_card(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    recorded(user=alice, game=pong, steps=20)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    recorded(user=alice, game=pong, steps=10)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert len(pd.read_parquet(tmp_path / "steps")) == 30
    assert "2 episodes, 30 recorded steps" in (tmp_path / "README.md").read_text()
