"""Minari datasets (Farama's offline-RL standard), one per game, lossless, in Parquet.

The destination is a ``MINARI_DATASETS_PATH``: each game's episodes go to the dataset
``arcade/<game>/<observation>-v0`` there, loadable offline with ``minari.load_dataset``.
``jpeg_encoding=False`` keeps image observations exact (Minari JPEG-encodes them by default);
``data_format="parquet"`` is Minari's Parquet storage (format ``minari``), whose episode files
``episode_parquet`` writes in Minari's layout from numpy, 30 times faster than Minari's own
writer; ``minari-arrow`` is Minari's Arrow IPC storage, written by Minari, uncompressed. Each
episode goes to disk as soon as it is read, so memory holds one episode at a time. A later
export appends to the dataset."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import minari
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset.minari_storage import MinariStorage

from games.engine.registry import register_all
from recording.models import Episode

from ..card import OBSERVATION_TEXT, dataset_card
from ..observations import observation_space
from . import ExportItem, Target, episode_parquet

DATA_FORMAT = "parquet"
VERSION = "v0"

LAYOUT = """\
A Minari root (`MINARI_DATASETS_PATH`): one dataset per game, `arcade/<game>/<observation>-v0`,
in Minari's Parquet storage with `jpeg_encoding` off (observations are exact). Each episode's
Minari metadata also has `arcade_episode` (UUID), `user` (pseudonym), `game`, `started_at`,
`recorded_steps`, `end_reason`, `verification`, `cut_short` (why the episode ends before
its recording does: an interrupted one) and `env_kwargs`; with `indices`
observations also `palette` (256 x [r, g, b]: RGB = palette[indices])."""

LOADING = """\
```python
import os
os.environ["MINARI_DATASETS_PATH"] = "/path/to/this/folder"
import minari
dataset = minari.load_dataset("arcade/pong/rgb-v0")
episode = next(dataset.iterate_episodes())
episode.observations.shape   # (T + 1, 210, 160, 3)
episode.actions, episode.rewards, episode.terminations, episode.truncations
```"""

# minari reads MINARI_DATASETS_PATH from the environment; one export sets it at a time.
_path_lock = threading.Lock()


@contextmanager
def datasets_path(root: Path) -> Iterator[None]:
    with _path_lock:
        previous = os.environ.get("MINARI_DATASETS_PATH")
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = previous


def dataset_id(slug: str, observation: str) -> str:
    return f"arcade/{slug}/{observation}-{VERSION}"


def env_spec(episode: Episode) -> gym.envs.registration.EnvSpec | None:
    """The episode's env as a Gymnasium spec (so ``recover_environment`` works), if registered."""
    register_all()
    spec = episode.env_spec
    try:
        registered = gym.spec(spec["env_id"])
    except gym.error.Error:
        return None
    return replace(registered, kwargs={**registered.kwargs, **(spec.get("env_kwargs") or {})})


class Writer:
    """Writes each game's episodes into its Minari dataset, creating or appending to it.

    Episode files in Parquet storage are written by ``episode_parquet`` (Minari's layout, 30
    times faster than Minari's writer); other storages by Minari. Each episode's metadata is
    written once, and the dataset's totals once per run, in ``close`` (the staging folder is
    published only after it).
    """

    data_format = DATA_FORMAT

    def __init__(self, target: Target, *, observation: str) -> None:
        self.target = target
        self.observation = observation
        self.storages: dict[str, MinariStorage] = {}
        self.sizes: dict[str, tuple[float, float]] = {}  # earlier size, staged size at start
        self.totals: dict[str, tuple[int, int]] = {}  # episodes, steps
        self.layouts: dict[str, episode_parquet.Layout | None] = {}  # None: Minari writes
        self.checked: set[str] = set()

    def _data_path(self, name: str) -> Path:
        return self.target.root / name / "data"

    def _storage(self, item: ExportItem) -> MinariStorage:
        """The game's dataset, created on its first episode or fetched to append to."""
        name = dataset_id(item.episode.game.slug, self.observation)
        if name in self.storages:
            return self.storages[name]
        if self.target.fetch(f"{name}/data/metadata.json"):
            storage = MinariStorage.read(self._data_path(name))
            self.sizes[name] = (storage.metadata.get("dataset_size", 0.0), storage.get_size())
        else:
            storage = self._create(name, item.episode)
        self.storages[name] = storage
        metadata = storage.metadata
        self.totals[name] = (metadata["total_episodes"], metadata["total_steps"])
        fast = episode_parquet.supports(storage)
        self.layouts[name] = episode_parquet.minari_layout(storage) if fast else None
        return storage

    def _create(self, name: str, episode: Episode) -> MinariStorage:
        space = observation_space(self.observation, episode.frame_shape, episode.pixel_format)
        n_actions = max(len(episode.env_spec.get("action_meanings") or []), 1)
        versions = episode.versions
        with datasets_path(self.target.root), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # code_permalink, eval_env and the like: unset
            dataset = minari.create_dataset_from_buffers(
                dataset_id=name,
                buffer=[],  # episodes are added one at a time by ``add``
                env=env_spec(episode),
                algorithm_name="human play (Arcade)",
                author="Arcade players (pseudonymous)",
                observation_space=space,
                action_space=gym.spaces.Discrete(n_actions),
                description=(
                    f"People playing {episode.game.title} on Arcade; observations: "
                    f"{OBSERVATION_TEXT[self.observation]}."
                ),
                data_format=self.data_format,
                requirements=[
                    f"{package}=={versions[package]}"
                    for package in ("ale-py", "gymnasium")
                    if package in versions
                ],
                jpeg_encoding=False,
            )
        storage: MinariStorage = dataset.storage
        return storage

    def add(self, item: ExportItem) -> str:
        trajectory = item.trajectory
        episode = item.episode
        storage = self._storage(item)
        name = dataset_id(episode.game.slug, self.observation)
        index, steps = self.totals[name]
        layout = self.layouts[name]
        if layout is None:
            buffer = EpisodeBuffer(
                id=index,
                seed=episode.seed,
                observations=trajectory.observations,
                actions=trajectory.actions,
                rewards=trajectory.rewards,
                terminations=trajectory.terminations,
                truncations=trajectory.truncations,
            )
            storage.update_episodes([buffer])
        else:
            path = storage.data_path / str(index) / episode_parquet.FILE_NAME
            episode_parquet.write_episode(
                path,
                observations=trajectory.stored,  # RGB is looked up a page at a time
                palette=trajectory.palette,
                actions=trajectory.actions,
                rewards=trajectory.rewards,
                terminations=trajectory.terminations,
                truncations=trajectory.truncations,
                arrow_schema=layout.arrow_schema,
            )
            if name not in self.checked:  # once a run: the layout is the storage's
                episode_parquet.check_layout(path, layout)
                self.checked.add(name)
        n = len(trajectory.actions)
        extra: dict[str, object] = {}
        if self.observation == "indices" and item.data.palette is not None:
            extra["palette"] = item.data.palette.tolist()  # RGB = palette[indices]
        episode_parquet.write_episode_metadata(
            storage,
            index,
            {
                **episode_parquet.episode_metadata(index, n, seed=episode.seed),
                "arcade_episode": str(episode.pk),
                "user": item.user,
                "game": episode.game.slug,
                "started_at": episode.started_at.isoformat(),
                "recorded_steps": episode.steps,
                "end_reason": episode.end_reason,
                "verification": episode.verification,
                "cut_short": item.data.cut_short,
                "env_kwargs": episode.env_spec.get("env_kwargs", {}),
                **extra,
            },
        )
        self.totals[name] = (index + 1, steps + n)
        return name

    def close(self, *, card_episodes: list[Episode]) -> None:
        # Only the metadata of an earlier export was staged: count the rest of it too.
        for name, storage in self.storages.items():
            earlier, staged = self.sizes.get(name, (0.0, 0.0))
            episodes, steps = self.totals[name]
            storage.update_metadata(
                {
                    "total_episodes": episodes,
                    "total_steps": steps,
                    "dataset_size": round(earlier + storage.get_size() - staged, 1),
                }
            )
        card = dataset_card(
            format=f"minari ({self.data_format} storage)",
            observation=self.observation,
            episodes=card_episodes,
            layout=LAYOUT,
            loading=LOADING,
        )
        (self.target.root / "README.md").write_text(card)


class ArrowWriter(Writer):
    """Minari's Arrow IPC storage, written by Minari: uncompressed, about 7 GB (indices) to
    22 GB (RGB) per hour of play instead of Parquet storage's 0.02 to 0.25 GB, and since
    ``episode_parquet`` no faster to write (docs/datasets.md, "Speed and size")."""

    data_format = "arrow"
