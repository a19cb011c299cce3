"""Episode files written from numpy read exactly as the ones Minari's own ParquetStorage writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset.minari_storage import MinariStorage

from exports.formats import episode_parquet


def episode(shape: tuple[int, ...], steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    terminations = np.zeros(steps, bool)
    terminations[-1] = True
    return {
        "observations": rng.integers(0, 256, (steps + 1, *shape), dtype=np.uint8),
        "actions": rng.integers(0, 18, steps, dtype=np.int64),
        "rewards": rng.choice([-1.0, 0.0, 0.0, 1.0, 0.5], steps),
        "terminations": terminations,
        "truncations": rng.random(steps) < 0.1,
    }


def minari_storage(root: Path, shape: tuple[int, ...], arrays: dict[str, np.ndarray]) -> Any:
    """A Parquet storage with ``arrays`` as episode 0, written by Minari itself."""
    storage = MinariStorage.new(
        root,
        observation_space=gym.spaces.Box(0, 255, shape, np.uint8),
        action_space=gym.spaces.Discrete(18),
        data_format="parquet",
        jpeg_encoding=False,
    )
    storage.update_episodes([EpisodeBuffer(seed=7, **arrays)])
    return storage


def write_ours(
    storage: Any, index: int, arrays: dict[str, np.ndarray], palette: np.ndarray | None = None
) -> Path:
    path = storage.data_path / str(index) / episode_parquet.FILE_NAME
    episode_parquet.write_episode(
        path,
        observations=arrays["observations"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        terminations=arrays["terminations"],
        truncations=arrays["truncations"],
        arrow_schema=episode_parquet.minari_layout(storage).arrow_schema,
        palette=palette,
    )
    return path


@pytest.mark.parametrize(
    "shape",
    [(210, 160), (210, 160, 3), (128,), (4, 84, 84), (33, 37)],
    ids=["indices", "rgb", "ram", "atari", "odd-size"],
)
def test_it_writes_the_table_minari_writes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    arrays = episode(shape, steps=150)  # most shapes take several data pages
    storage = minari_storage(tmp_path, shape, arrays)
    ours = write_ours(storage, 1, arrays)
    theirs = pq.read_table(storage.data_path / "0" / episode_parquet.FILE_NAME)
    mine = pq.read_table(ours)
    assert mine.schema.equals(theirs.schema, check_metadata=True)
    assert mine.equals(theirs)
    assert pq.ParquetFile(ours).schema.equals(
        pq.ParquetFile(storage.data_path / "0" / episode_parquet.FILE_NAME).schema
    )
    episode_parquet.check_layout(ours, episode_parquet.minari_layout(storage))


def test_it_loads_through_minari_to_the_same_arrays(tmp_path: Path) -> None:
    arrays = episode((210, 160, 3), steps=40)
    storage = minari_storage(tmp_path, (210, 160, 3), arrays)
    write_ours(storage, 1, arrays)
    episode_parquet.write_episode_metadata(
        storage, 1, episode_parquet.episode_metadata(1, 40, seed=7)
    )
    storage.update_metadata({"total_episodes": 2, "total_steps": 80})
    theirs, mine = storage.get_episodes([0, 1])
    for name in ("observations", "actions", "rewards", "terminations", "truncations"):
        assert mine[name].dtype == theirs[name].dtype, name
        assert np.array_equal(mine[name], theirs[name]), name
    assert np.array_equal(mine["observations"], arrays["observations"])
    assert list(storage.get_episode_metadata([1])) == [{"id": 1, "total_steps": 40, "seed": 7}]


@pytest.mark.parametrize("shape", [(210, 160), (33, 37)], ids=["pairs-of-pixels", "odd-width"])
def test_it_looks_rgb_up_from_a_palette_to_the_same_bytes(
    tmp_path: Path, shape: tuple[int, int]
) -> None:
    arrays = episode(shape, steps=40)
    palette = np.random.default_rng(1).integers(0, 256, (256, 3), dtype=np.uint8)
    rgb = {**arrays, "observations": palette[arrays["observations"]]}
    storage = minari_storage(tmp_path, (*shape, 3), rgb)
    looked_up = write_ours(storage, 1, arrays, palette=palette).read_bytes()
    assert write_ours(storage, 2, rgb).read_bytes() == looked_up
    assert pq.read_table(storage.data_path / "1" / episode_parquet.FILE_NAME).equals(
        pq.read_table(storage.data_path / "0" / episode_parquet.FILE_NAME)
    )


def test_it_writes_the_same_bytes_twice(tmp_path: Path) -> None:
    arrays = episode((210, 160), steps=30)
    storage = minari_storage(tmp_path, (210, 160), arrays)
    first = write_ours(storage, 1, arrays).read_bytes()
    assert write_ours(storage, 1, arrays).read_bytes() == first


def test_it_refuses_a_file_laid_out_otherwise_than_minaris(tmp_path: Path) -> None:
    arrays = episode((210, 160), steps=10)
    storage = minari_storage(tmp_path / "a", (210, 160), arrays)
    other = minari_storage(tmp_path / "b", (210, 161), episode((210, 161), steps=10))
    with pytest.raises(RuntimeError, match="minari-arrow"):
        episode_parquet.check_layout(
            write_ours(storage, 1, arrays), episode_parquet.minari_layout(other)
        )


def test_it_leaves_other_storages_to_minari(tmp_path: Path) -> None:
    arrays = episode((210, 160), steps=10)
    assert episode_parquet.supports(minari_storage(tmp_path / "parquet", (210, 160), arrays))
    jpeg = MinariStorage.new(
        tmp_path / "jpeg",
        observation_space=gym.spaces.Box(0, 255, (210, 160), np.uint8),
        action_space=gym.spaces.Discrete(18),
        data_format="parquet",
    )
    arrow = MinariStorage.new(
        tmp_path / "arrow",
        observation_space=gym.spaces.Box(0, 255, (210, 160), np.uint8),
        action_space=gym.spaces.Discrete(18),
        data_format="arrow",
        jpeg_encoding=False,
    )
    assert not episode_parquet.supports(jpeg)
    assert not episode_parquet.supports(arrow)


def infos_of(rows: int) -> dict[str, Any]:
    """Infos of every kind the exporter writes, one value per observation (reset first)."""
    rng = np.random.default_rng(5)
    return {
        "applied": rng.integers(0, 18, (rows, 4), dtype=np.int64),
        "lives": [int(v) for v in rng.integers(0, 5, rows)],
        "new_input": [bool(v) for v in rng.random(rows) < 0.2],
        "keys": [["", "ArrowLeft ArrowRight", "Space", "é"][i % 4] for i in range(rows)],
        "t_sent": [float("nan") if i % 3 == 0 else 1_764_000_000.0 + i / 60 for i in range(rows)],
    }


def _equal_with_nan(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def test_it_writes_infos_as_minari_writes_them(tmp_path: Path) -> None:
    arrays = episode((210, 160), steps=50)
    infos = infos_of(51)
    storage = MinariStorage.new(
        tmp_path,
        observation_space=gym.spaces.Box(0, 255, (210, 160), np.uint8),
        action_space=gym.spaces.Discrete(18),
        data_format="parquet",
        jpeg_encoding=False,
    )
    storage.update_episodes([EpisodeBuffer(seed=7, infos=infos, **arrays)])
    signature = episode_parquet.info_signature(infos)
    layout = episode_parquet.minari_layout(storage, signature)
    path = storage.data_path / "1" / episode_parquet.FILE_NAME
    episode_parquet.write_episode(
        path,
        observations=arrays["observations"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        terminations=arrays["terminations"],
        truncations=arrays["truncations"],
        infos=infos,
        arrow_schema=layout.arrow_schema,
    )

    episode_parquet.check_layout(path, layout)
    theirs = pq.read_table(storage.data_path / "0" / episode_parquet.FILE_NAME)
    ours = pq.read_table(path)
    assert ours.schema.equals(theirs.schema, check_metadata=True)
    assert ours.drop_columns(["infos"]).equals(theirs.drop_columns(["infos"]))
    storage.update_metadata({"total_episodes": 2, "total_steps": 100})
    theirs_loaded, mine = storage.get_episodes([0, 1])
    for name in infos:
        assert np.array_equal(
            mine["infos"][name], theirs_loaded["infos"][name], equal_nan=name == "t_sent"
        ), name
    assert mine["infos"]["applied"].shape == (51, 4)
    assert mine["infos"]["keys"][1] == "ArrowLeft ArrowRight"
