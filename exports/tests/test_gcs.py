"""Exports read chunks from and write datasets to Google Cloud Storage (gcp-storage-emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.files.storage import default_storage

from exports.services import EpisodeQuery, dataset_export
from recording.frames import episode_data
from recording.tests.test_gcs import gcs  # noqa: F401  the emulator fixture

from .test_minari import load

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("gcs")]


def download(prefix: str, into: Path) -> None:
    folders, files = default_storage.listdir(prefix)
    into.mkdir(parents=True, exist_ok=True)
    for name in files:
        with default_storage.open(f"{prefix}/{name}") as remote:
            (into / name).write_bytes(remote.read())
    for folder in folders:
        download(f"{prefix}/{folder}", into / folder)


def test_it_exports_minari_to_a_bucket_and_appends_on_the_next_run(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    first = recorded(user=alice, game=pong, steps=40)
    assert type(default_storage._wrapped).__name__ == "GoogleCloudStorage"  # type: ignore[attr-defined]
    summary = dataset_export(query=EpisodeQuery(), destination="storage:exports/pong")
    assert summary.exported == 1
    assert default_storage.exists("exports/pong/arcade/pong/rgb-v0/data/metadata.json")
    second = recorded(user=alice, game=pong, steps=30)
    again = dataset_export(query=EpisodeQuery(), destination="storage:exports/pong")
    assert (again.already, again.exported) == (1, 1)

    download("exports/pong", tmp_path / "copy")
    dataset = load(tmp_path / "copy", "arcade/pong/rgb-v0")
    assert dataset.total_episodes == 2 and dataset.total_steps == 70
    episodes = list(dataset.iterate_episodes())
    assert [len(e.observations) for e in episodes] == [41, 31]
    for loaded, episode in zip(episodes, (first, second), strict=True):
        stored = episode_data(episode)
        assert np.array_equal(stored.frames, np.stack(episode.played))
        assert np.array_equal(loaded.observations, stored.rgb())
    local = sum(p.stat().st_size for p in (tmp_path / "copy/arcade/pong/rgb-v0/data").rglob("*"))
    assert dataset.storage.metadata["dataset_size"] == pytest.approx(local / 1e6, abs=0.15)


def test_it_exports_parquet_to_a_bucket(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=25)
    dataset_export(
        query=EpisodeQuery(),
        destination="storage:exports/tables",
        format="parquet",
        observation="indices",
    )
    download("exports/tables", tmp_path / "copy")
    frames = pd.read_parquet(tmp_path / "copy" / "frames" / "pong")
    observations = np.stack(frames.observation.to_numpy()).reshape(-1, 210, 160)
    assert np.array_equal(observations, np.stack(episode.played))
    assert len(pd.read_parquet(tmp_path / "copy" / "steps")) == 25
