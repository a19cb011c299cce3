"""Plain Parquet tables a data scientist opens with pandas, pyarrow or Hugging Face ``datasets``.

Layout under the destination (each export run adds part ``NNNNN`` to every table)::

    README.md                               the dataset card: fields, games, env settings
    episodes/part-NNNNN.parquet             one row per episode
    steps/part-NNNNN.parquet                one row per step (docs/datasets.md lists columns)
    frames/<game>/part-NNNNN.parquet        one row per observation: episode, frame, observation

``observation`` is a fixed-size list of uint8, the flattened array; its shape is in the
column's metadata (``shape``) and in the card. Frames are per game because shapes differ.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recording import stepcolumns
from recording.frames import EpisodeData
from recording.models import Episode

from ..card import dataset_card
from ..inputs import input_columns
from ..observations import Trajectory
from ..players import EVERYONE, PlayedBy
from ..seats import seat_count, seat_trajectory, seat_view
from . import ExportItem, Target

COMPRESSION = "zstd"

LAYOUT = """\
- `episodes/part-*.parquet`: one row per episode (`episode`, `user`, `game`, `env_id`,
  `env_kwargs`, `seed`, `steps`, `recorded_steps`, `total_return`, `status`, `end_reason`,
  `verification`, `cut_short` (why the data ends before the recording: an interrupted
  episode), `started_at`, `frame_shape`, `pixel_format`, `observation_shape`,
  `versions`, `palette`, `context` (what it was played for, e.g. a study's game block,
  or the program that played, as JSON; `{}` for free play), `played_by` (the kinds that held
  its seats: `human`, `agent`, `human+agent`, ...) and `seats` (who held each seat from which
  step, as JSON: "Who played", below)).
- `steps/part-*.parquet`: one row per step, the fields below.
- `frames/<game>/part-*.parquet`: one row per observation (`episode`, `frame`,
  `observation`); `observation` is the flattened uint8 array, its shape in the episodes table
  and in the field's metadata. Frame t is the observation step t is taken on; frame T the last."""

LOADING = """\
```python
import numpy as np, pandas as pd
steps = pd.read_parquet("steps")
episodes = pd.read_parquet("episodes")
frames = pd.read_parquet("frames/pong")
shape = episodes.observation_shape.iloc[0]
obs = np.stack(frames.observation.to_numpy()).reshape(-1, *shape)
```

With Hugging Face `datasets`:
`load_dataset("parquet", data_files={"train": "steps/*.parquet"})`."""


def _nullable(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.float64())


def _seat_columns(data: EpisodeData, trajectory: Trajectory) -> dict[str, pa.Array]:
    """A multi-seat episode's per-seat columns (null for one seat): each seat's action at the
    recorded step the step starts at and its reward summed as ``reward`` is, holders and
    fresh flags at that step."""
    raw = trajectory.raw_steps.tolist()
    n = len(raw)
    count = seat_count(data)
    columns = data.steps
    if count:
        per_seat = [seat_trajectory(trajectory, seat_view(data, k)) for k in range(count)]
        actions = np.stack([t.actions for t in per_seat], axis=1).astype(np.int16).tolist()
        rewards = np.stack([t.rewards for t in per_seat], axis=1).tolist()
        holders = [columns["seat_holders"][i] for i in raw]
        fresh = [columns["seat_fresh"][i] for i in raw]
    else:
        actions = rewards = holders = fresh = [None] * n
    return {
        "seat_actions": pa.array(actions, pa.list_(pa.int16())),
        "seat_rewards": pa.array(rewards, pa.list_(pa.float64())),
        "seat_holders": pa.array(holders, pa.list_(pa.string())),
        "seat_fresh": pa.array(fresh, pa.list_(pa.bool_())),
    }


class Writer:
    """Appends this run's episodes as new part files; rewrites the card over all of them."""

    def __init__(self, target: Target, *, observation: str, played_by: PlayedBy = EVERYONE) -> None:
        self.target = target
        self.observation = observation
        self.played_by = played_by
        taken = [
            int(name.removeprefix("part-").removesuffix(".parquet"))
            for name in target.names("episodes")
            if name.startswith("part-")
        ]
        self.part = f"part-{max(taken, default=-1) + 1:05d}.parquet"
        self.episode_rows: list[dict[str, Any]] = []
        self.steps: pq.ParquetWriter | None = None
        self.frames: dict[str, pq.ParquetWriter] = {}

    def _path(self, *parts: str) -> Path:
        path = self.target.root.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, item: ExportItem) -> str:
        episode, data, trajectory = item.episode, item.data, item.trajectory
        slug = episode.game.slug
        n = len(trajectory.actions)
        raw = trajectory.raw_steps
        column = stepcolumns.by_name(data.steps)
        inputs = input_columns(data.steps)

        def pick(name: str) -> list[Any]:
            values = column[name] if name in column else inputs[name]
            return [values[i] for i in raw]

        steps = pa.table(
            {
                "episode": pa.array([str(episode.pk)] * n, pa.string()),
                "user": pa.array([item.user] * n, pa.string()),
                "game": pa.array([slug] * n, pa.string()),
                "step": pa.array(np.arange(n, dtype=np.int32)),
                "raw_step": pa.array(raw.astype(np.int32)),
                "action": pa.array(trajectory.actions.astype(np.int16)),
                "reward": pa.array(trajectory.rewards),
                "terminated": pa.array(trajectory.terminations),
                "truncated": pa.array(trajectory.truncations),
                "info": pa.array(
                    [json.dumps(v, sort_keys=True) for v in pick("info")], pa.string()
                ),
                "input_seq": pa.array(pick("input_seq"), pa.int64()),
                "client_frame": pa.array(pick("client_frame"), pa.int64()),
                "t_shown": _nullable(pick("t_shown")),
                "t_key": _nullable(pick("t_key")),
                "t_received": _nullable(pick("t_received")),
                "t_step": _nullable(pick("t_step")),
                "t_sent": _nullable(pick("t_sent")),
                "keys": pa.array(pick("keys"), pa.list_(pa.string())),
                "new_input": pa.array(pick("new_input"), pa.bool_()),
                "receive_to_step_ms": _nullable(pick("receive_to_step_ms")),
                "step_to_sent_ms": _nullable(pick("step_to_sent_ms")),
                "shown_to_key_ms": _nullable(pick("shown_to_key_ms")),
                "frames_after_shown": pa.array(pick("frames_after_shown"), pa.int64()),
                "ms_since_input": _nullable(pick("ms_since_input")),
                **_seat_columns(data, trajectory),
            }
        )
        if self.steps is None:
            self.steps = pq.ParquetWriter(
                self._path("steps", self.part), steps.schema, compression=COMPRESSION
            )
        self.steps.write_table(steps)

        obs = trajectory.observations
        size = math.prod(obs.shape[1:])
        flat = pa.FixedSizeListArray.from_arrays(pa.array(obs.reshape(-1)), size)
        shape_meta = {b"shape": json.dumps(list(obs.shape[1:])).encode()}
        frames = pa.table(
            {
                "episode": pa.array([str(episode.pk)] * len(obs), pa.string()),
                "frame": pa.array(np.arange(len(obs), dtype=np.int32)),
                "observation": flat,
            }
        )
        frames = frames.cast(
            pa.schema([*list(frames.schema)[:2], frames.schema.field(2).with_metadata(shape_meta)])
        )
        if slug not in self.frames:
            self.frames[slug] = pq.ParquetWriter(
                self._path("frames", slug, self.part),
                frames.schema,
                compression=COMPRESSION,
                use_dictionary=["episode"],
            )
        self.frames[slug].write_table(frames, row_group_size=256)

        self.episode_rows.append(
            {
                "episode": str(episode.pk),
                "user": item.user,
                "game": slug,
                "env_id": episode.env_spec.get("env_id", ""),
                "env_kwargs": json.dumps(episode.env_spec.get("env_kwargs", {}), sort_keys=True),
                "seed": episode.seed,
                "steps": n,
                "recorded_steps": episode.steps,
                "total_return": float(trajectory.rewards.sum()),
                "status": episode.status,
                "end_reason": episode.end_reason,
                "verification": episode.verification,
                "cut_short": data.cut_short,
                "started_at": episode.started_at,
                "frame_shape": list(episode.frame_shape),
                "pixel_format": episode.pixel_format,
                "observation_shape": list(obs.shape[1:]),
                "versions": json.dumps(episode.versions, sort_keys=True),
                "palette": (
                    data.palette.reshape(-1).tolist() if data.palette is not None else None
                ),
                "context": json.dumps(item.context, sort_keys=True),
                "played_by": item.played_by,
                "seats": json.dumps(item.seats, sort_keys=True),
            }
        )
        return f"episodes/{self.part}"

    def close(self, *, card_episodes: list[Episode]) -> None:
        if self.steps is not None:
            self.steps.close()
        for writer in self.frames.values():
            writer.close()
        if self.episode_rows:
            table = pa.Table.from_pylist(
                self.episode_rows,
                schema=pa.schema(
                    [
                        ("episode", pa.string()),
                        ("user", pa.string()),
                        ("game", pa.string()),
                        ("env_id", pa.string()),
                        ("env_kwargs", pa.string()),
                        ("seed", pa.int64()),
                        ("steps", pa.int64()),
                        ("recorded_steps", pa.int64()),
                        ("total_return", pa.float64()),
                        ("status", pa.string()),
                        ("end_reason", pa.string()),
                        ("verification", pa.string()),
                        ("cut_short", pa.string()),
                        ("started_at", pa.timestamp("us", tz="UTC")),
                        ("frame_shape", pa.list_(pa.int32())),
                        ("pixel_format", pa.string()),
                        ("observation_shape", pa.list_(pa.int32())),
                        ("versions", pa.string()),
                        ("palette", pa.list_(pa.uint8())),
                        ("context", pa.string()),
                        ("played_by", pa.string()),
                        ("seats", pa.string()),
                    ]
                ),
            )
            pq.write_table(table, self._path("episodes", self.part), compression=COMPRESSION)
        card = dataset_card(
            format="parquet",
            observation=self.observation,
            episodes=card_episodes,
            layout=LAYOUT,
            loading=LOADING,
            played_by=self.played_by,
        )
        self._path("README.md").write_text(card)
