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
from typing import Any

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset.minari_storage import MinariStorage

from games.engine.registry import register_all
from recording.frames import EpisodeData
from recording.models import Episode

from ..card import OBSERVATION_TEXT, dataset_card
from ..inputs import input_columns
from ..observations import observation_space
from ..players import EVERYONE, PlayedBy
from ..seats import seat_count, seat_trajectory, seat_view
from . import ExportItem, Target, episode_parquet

DATA_FORMAT = "parquet"
VERSION = "v0"

INFOS = """\
Each episode's `infos` (T + 1 rows: the reset's, then step t's at row t + 1) carry, for Atari
games, `lives` and, with sticky actions, `applied` (T + 1 x frameskip: the action each emulator
frame of the step applied; the reset row is NOOP), which is what replays the episode
bit-exactly (docs/datasets.md, "Replaying a Minari episode"); and the input of every step:
`input_seq`, `new_input`, `keys` (the key codes held, space-separated), `client_frame` (-1:
none), `t_shown`, `t_key`, `t_received`, `t_step`, `t_sent` (NaN: none). With `atari`
observations a step's infos are those of the first recorded step it covers, without `applied`."""

LAYOUT = (
    """\
A Minari root (`MINARI_DATASETS_PATH`): one dataset per game, `arcade/<game>/<observation>-v0`,
in Minari's Parquet storage with `jpeg_encoding` off (observations are exact). Each episode's
Minari metadata also has `arcade_episode` (UUID), `user` (pseudonym), `game`, `started_at`,
`recorded_steps`, `end_reason`, `verification`, `cut_short` (why the episode ends before
its recording does: an interrupted one), `env_kwargs`, `context` (what it was played for,
e.g. a study's game block, or the program that played; `{}` for free play), `played_by` (the
kinds that held its seats: `human`, `agent`, `human+agent`, ...) and `seats` (who held each
seat from which step: "Who played", below); with `indices` observations also `palette`
(256 x [r, g, b]: RGB = palette[indices]).

"""
    + INFOS
)

# The card's section on the datasets of games of several seats, when the export has any.
SEATS = """\
A game of several seats (two-player Pong, env id `multi/pong`) has one dataset per seat,
`arcade/<game>/seat-<k>/<observation>-v0`, each from the side of seat *k* (seat 0 is the first
player; each dataset's description names its side): every episode is in every seat's dataset,
with the same observations, and `actions`, `rewards` and the input infos are seat *k*'s. The
other seats are in `infos`: `other_actions` (T + 1 x (seats - 1): their actions in seat order;
the reset row 0) and `reward_of_seat_<i>`, with `holder` (who held seat *k* at the step:
`user:<pseudonym>`, `agent:<pseudonym>` (a program, by its owner's pseudonym), `policy:<id>` or
`vacant`) and `fresh` (seat *k*'s action was decided for that step). Each episode's metadata
adds `seat`."""

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


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def episode_infos(item: ExportItem, observation: str) -> episode_parquet.Infos:
    """The episode's Minari ``infos``: the reset's row, then one per step (``INFOS``)."""
    steps, raw = item.data.steps, item.trajectory.raw_steps.tolist()
    derived = input_columns(steps)

    def pick(values: list[Any]) -> list[Any]:
        return [values[i] for i in raw]

    infos: episode_parquet.Infos = {}
    env_infos = pick(steps["info"])
    applied = [info.get("applied") if isinstance(info, dict) else None for info in env_infos]
    widths = {len(a) if isinstance(a, list) else -1 for a in applied}
    if observation != "atari" and len(widths) == 1 and min(widths) > 0:
        frames = np.asarray(applied, np.int64)
        infos["applied"] = np.concatenate([np.zeros((1, frames.shape[1]), np.int64), frames])
    lives = [info.get("lives") if isinstance(info, dict) else None for info in env_infos]
    if lives and all(type(v) is int for v in lives):
        infos["lives"] = [lives[0], *lives]
    keys = [" ".join(k) if k is not None else "" for k in pick(steps["keys"])]
    frames_shown = [-1 if f is None else int(f) for f in pick(steps["client_frame"])]
    infos |= {
        "input_seq": [0, *map(int, pick(steps["input_seq"]))],
        "new_input": [False, *pick(derived["new_input"])],
        "keys": ["", *keys],
        "client_frame": [-1, *frames_shown],
        **{
            name: [float("nan"), *_nan(pick(steps[name]))]
            for name in ("t_shown", "t_key", "t_received", "t_step", "t_sent")
        },
    }
    return infos


def dataset_id(slug: str, observation: str, seat: int | None = None) -> str:
    """A game's dataset; a multi-seat game has one per seat, each from that seat's side."""
    if seat is None:
        return f"arcade/{slug}/{observation}-{VERSION}"
    return f"arcade/{slug}/seat-{seat}/{observation}-{VERSION}"


def seat_infos(data: EpisodeData, seat: int, raw: list[int]) -> episode_parquet.Infos:
    """A seat's dataset's extra ``infos``: the other seats' actions and rewards, and who held
    the seat and whether its action was decided for the step (the reset row: 0, "", False)."""
    steps = data.steps
    others = [k for k in range(seat_count(data)) if k != seat]
    joint = [steps["seat_actions"][i] or [] for i in raw]
    rewards = [steps["seat_rewards"][i] or [] for i in raw]
    infos: episode_parquet.Infos = {}
    if others:
        actions = np.asarray([[row[k] for k in others] for row in joint], np.int64)
        infos["other_actions"] = np.concatenate(
            [np.zeros((1, len(others)), np.int64), actions.reshape(len(raw), len(others))]
        )
    for k in others:
        infos[f"reward_of_seat_{k}"] = [0.0, *(float(row[k]) for row in rewards)]
    infos["holder"] = ["", *((steps["seat_holders"][i] or [""] * (seat + 1))[seat] for i in raw)]
    infos["fresh"] = [False, *(bool((steps["seat_fresh"][i] or [])[seat]) for i in raw)]
    return infos


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

    def __init__(self, target: Target, *, observation: str, played_by: PlayedBy = EVERYONE) -> None:
        self.target = target
        self.observation = observation
        self.played_by = played_by
        self.storages: dict[str, MinariStorage] = {}
        self.sizes: dict[str, tuple[float, float]] = {}  # earlier size, staged size at start
        self.totals: dict[str, tuple[int, int]] = {}  # episodes, steps
        self.fast: dict[str, bool] = {}  # whether episode_parquet writes the dataset's files
        self.layouts: dict[tuple[str, episode_parquet.Signature], episode_parquet.Layout] = {}

    def _data_path(self, name: str) -> Path:
        return self.target.root / name / "data"

    def _storage(self, item: ExportItem, name: str, seat: int | None) -> MinariStorage:
        """The game's dataset, created on its first episode or fetched to append to."""
        if name in self.storages:
            return self.storages[name]
        if self.target.fetch(f"{name}/data/metadata.json"):
            storage = MinariStorage.read(self._data_path(name))
            self.sizes[name] = (storage.metadata.get("dataset_size", 0.0), storage.get_size())
        else:
            storage = self._create(name, item.episode, seat)
        self.storages[name] = storage
        metadata = storage.metadata
        self.totals[name] = (metadata["total_episodes"], metadata["total_steps"])
        self.fast[name] = episode_parquet.supports(storage)
        return storage

    def _create(self, name: str, episode: Episode, seat: int | None) -> MinariStorage:
        space = observation_space(self.observation, episode.frame_shape, episode.pixel_format)
        meanings = episode.env_spec.get("action_meanings") or []
        if seat is not None and meanings and isinstance(meanings[0], list):
            meanings = meanings[seat]  # one list per seat
        n_actions = max(len(meanings), 1)
        side, others = "", ""
        if seat is not None:
            role = episode.seats.filter(index=seat).values_list("role", flat=True).first()
            role = f", {role}" if role else ""
            side = f", from the side of player {seat + 1} (seat {seat}{role})"
            others = (
                " Actions and rewards are this seat's; the other seats' actions are in "
                "infos['other_actions'] and their rewards in infos['reward_of_seat_<i>']."
            )
        versions = episode.versions
        with datasets_path(self.target.root), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # code_permalink, eval_env and the like: unset
            dataset = minari.create_dataset_from_buffers(
                dataset_id=name,
                buffer=[],  # episodes are added one at a time by ``add``
                env=env_spec(episode),
                # What collected the data: people, programs or both, as the export chose.
                algorithm_name=(
                    "human play (Arcade)"
                    if self.played_by.kinds == ("human",)
                    else f"play on Arcade by {self.played_by.holders()}"
                ),
                author="Arcade players (pseudonymous)",
                observation_space=space,
                action_space=gym.spaces.Discrete(n_actions),
                description=(
                    f"{episode.game.title} played on Arcade by {self.played_by.holders()}"
                    f"{side}; observations: "
                    f"{OBSERVATION_TEXT[self.observation]}.{others}"
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
        """Write the episode to its game's dataset; a multi-seat episode to each seat's, as
        that seat played it (its actions and rewards; the others' in ``infos``)."""
        count = seat_count(item.data)
        if not count:
            return self._add(item, dataset_id(item.episode.game.slug, self.observation), None)
        names = []
        for seat in range(count):
            data = seat_view(item.data, seat)
            seen = replace(item, data=data, trajectory=seat_trajectory(item.trajectory, data))
            names.append(
                self._add(seen, dataset_id(item.episode.game.slug, self.observation, seat), seat)
            )
        return " ".join(names)

    def _add(self, item: ExportItem, name: str, seat: int | None) -> str:
        trajectory = item.trajectory
        episode = item.episode
        storage = self._storage(item, name, seat)
        index, steps = self.totals[name]
        infos = episode_infos(item, self.observation)
        if seat is not None:
            infos |= seat_infos(item.data, seat, trajectory.raw_steps.tolist())
        if not self.fast[name]:
            buffer = EpisodeBuffer(
                id=index,
                seed=episode.seed,
                observations=trajectory.observations,
                actions=trajectory.actions,
                rewards=trajectory.rewards,
                terminations=trajectory.terminations,
                truncations=trajectory.truncations,
                infos=infos,
            )
            storage.update_episodes([buffer])
        else:
            # Minari's layout of these infos, found once a run (and checked once) per shape.
            signature = episode_parquet.info_signature(infos)
            checked = (name, signature) in self.layouts
            if not checked:
                self.layouts[name, signature] = episode_parquet.minari_layout(storage, signature)
            layout = self.layouts[name, signature]
            path = storage.data_path / str(index) / episode_parquet.FILE_NAME
            episode_parquet.write_episode(
                path,
                observations=trajectory.stored,  # RGB is looked up a page at a time
                palette=trajectory.palette,
                actions=trajectory.actions,
                rewards=trajectory.rewards,
                terminations=trajectory.terminations,
                truncations=trajectory.truncations,
                infos=infos,
                arrow_schema=layout.arrow_schema,
            )
            if not checked:
                episode_parquet.check_layout(path, layout)
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
                "context": item.context,
                "played_by": item.played_by,
                "seats": item.seats,
                **({"seat": seat} if seat is not None else {}),
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
            seats=SEATS,
            played_by=self.played_by,
        )
        (self.target.root / "README.md").write_text(card)


class ArrowWriter(Writer):
    """Minari's Arrow IPC storage, written by Minari: uncompressed, about 7 GB (indices) to
    22 GB (RGB) per hour of play instead of Parquet storage's 0.02 to 0.25 GB, and since
    ``episode_parquet`` no faster to write (docs/datasets.md, "Speed and size")."""

    data_format = "arrow"
