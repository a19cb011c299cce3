"""The Parquet export opens with pandas, has the documented columns, and names no one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exports.card import STEP_FIELDS
from exports.services import EpisodeQuery, dataset_export, user_pseudonym
from recording.recorder import InputStamp
from recording.tests.helpers import record_episode

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


T0 = 1_764_000_000.0


def two_key_presses(step: int) -> tuple[InputStamp, float]:
    """No input for five steps; Left and Right together arrive 4 ms before step 5 (pressed on
    frame 3), Space alone 10 ms before step 12 (pressed on frame 11)."""
    t_step = T0 + step / 60
    if step < 5:
        return InputStamp(), t_step
    if step < 12:
        pressed = InputStamp(
            seq=1,
            client_frame=3,
            t_shown=2000.0,
            t_key=2012.5,
            t_received=T0 + 5 / 60 - 0.004,
            keys=("ArrowLeft", "ArrowRight"),
        )
        return pressed, t_step
    space = InputStamp(
        seq=2,
        client_frame=11,
        t_shown=2180.0,
        t_key=2183.0,
        t_received=T0 + 12 / 60 - 0.010,
        keys=("Space",),
    )
    return space, t_step


def sent_but_step_12(step: int) -> float | None:
    """Every frame 0.5 ms after its step, but step 12's, which flow control dropped."""
    return None if step == 12 else T0 + step / 60 + 0.0005


def test_it_marks_the_steps_that_apply_a_new_input_and_times_only_those(
    tmp_path: Path, alice: Any, pong: Any, eager_celery: None, redis_flushed: None
) -> None:
    record_episode(user=alice, game=pong, steps=20, stamps=two_key_presses, sent=sent_but_step_12)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")

    steps = pd.read_parquet(tmp_path / "steps").set_index("step")
    assert steps.index[steps.new_input].tolist() == [5, 12]
    applied = steps[steps.new_input]
    assert applied.receive_to_step_ms.tolist() == pytest.approx([4.0, 10.0], abs=1e-3)
    assert applied.step_to_sent_ms.iloc[0] == pytest.approx(0.5, abs=1e-3)
    assert pd.isna(applied.step_to_sent_ms.iloc[1])  # its frame was never sent
    assert applied.shown_to_key_ms.tolist() == [12.5, 3.0]
    assert applied.frames_after_shown.tolist() == [2, 1]
    held = steps[~steps.new_input]
    for name in ("receive_to_step_ms", "step_to_sent_ms", "shown_to_key_ms", "frames_after_shown"):
        assert held[name].isna().all(), name
    # The old meaning, under its own name: how long the input in effect had been held.
    assert steps.ms_since_input[11] == pytest.approx((11 - 5) / 60 * 1000 + 4.0, abs=1e-3)
    assert steps.ms_since_input[:5].isna().all()
    assert "input_latency_ms" not in steps.columns


def test_it_exports_the_keys_held_at_every_step(
    tmp_path: Path, alice: Any, pong: Any, eager_celery: None, redis_flushed: None
) -> None:
    record_episode(user=alice, game=pong, steps=20, stamps=two_key_presses)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")

    keys = [list(k) for k in pd.read_parquet(tmp_path / "steps").sort_values("step")["keys"]]
    assert keys == [[]] * 5 + [["ArrowLeft", "ArrowRight"]] * 7 + [["Space"]] * 8
