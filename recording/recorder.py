"""Buffers one episode's steps and frames and cuts them into chunks.

Frame t is the observation before step t; frame 0 follows reset and frame T (the terminal
observation) follows the last step, so an episode of T steps has T + 1 frames. A chunk holds
the steps [a, b) and the frames [a, b); the last chunk also holds frame T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .chunkfile import KEYFRAME_EVERY, ChunkData

STEP_FIELDS = (
    "action",
    "reward",
    "terminated",
    "truncated",
    "info",
    "input_seq",
    "client_frame",
    "t_shown",
    "t_key",
    "t_received",
    "t_step",
)


@dataclass(slots=True)
class InputStamp:
    """The input message in effect at a step: its seq and the client's and server's times."""

    seq: int = 0
    client_frame: int | None = None
    t_shown: float | None = None  # client clock, ms
    t_key: float | None = None  # client clock, ms
    t_received: float | None = None  # server wall clock, s


@dataclass
class Recorder:
    episode: str
    pixel_format: str
    chunk_steps: int
    keyframe_every: int = KEYFRAME_EVERY
    palette: list[list[int]] = field(default_factory=list)
    # Frames since the last cut, copied into one array (no per-frame allocation, no stack at
    # the cut); a cut hands the array to the encoder and starts a new one.
    _buffer: np.ndarray | None = None
    _count: int = 0
    _steps: dict[str, list[Any]] = field(default_factory=dict)
    _first_frame: int = 0
    _index: int = 0
    _last_frame: np.ndarray | None = None
    steps: int = 0
    total_return: float = 0.0

    def __post_init__(self) -> None:
        self._steps = {name: [] for name in STEP_FIELDS}

    def reset(self, frame: np.ndarray) -> None:
        self._append(frame)

    def _append(self, frame: np.ndarray) -> None:
        buffer = self._buffer
        if buffer is None or self._count == len(buffer) or buffer.shape[1:] != frame.shape:
            if buffer is not None and buffer.shape[1:] != frame.shape:
                raise ValueError("the frame shape changed during the episode")
            grown = np.empty((max(self.chunk_steps + 2, 2 * self._count), *frame.shape), np.uint8)
            if buffer is not None:
                grown[: self._count] = buffer[: self._count]
            self._buffer = buffer = grown
        buffer[self._count] = frame
        self._count += 1

    def step(
        self,
        *,
        action: int,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
        stamp: InputStamp,
        t_step: float,
        frame: np.ndarray,
    ) -> None:
        """Record step ``self.steps`` and the frame it produced."""
        s = self._steps
        s["action"].append(action)
        s["reward"].append(reward)
        s["terminated"].append(terminated)
        s["truncated"].append(truncated)
        s["info"].append(info)
        s["input_seq"].append(stamp.seq)
        s["client_frame"].append(stamp.client_frame)
        s["t_shown"].append(stamp.t_shown)
        s["t_key"].append(stamp.t_key)
        s["t_received"].append(stamp.t_received)
        s["t_step"].append(t_step)
        self._append(frame)
        self.steps += 1
        self.total_return += reward

    @property
    def pending_steps(self) -> int:
        return len(self._steps["action"])

    def add_colours(self, entries: list[list[int]]) -> None:
        self.palette.extend(entries)

    def cut(self, *, final: bool = False) -> ChunkData | None:
        """The steps recorded since the last cut as a chunk; the final cut adds frame T."""
        n_steps = self.pending_steps
        if n_steps == 0 and not final:
            return None
        # Frames [a, a + n_steps) go now; the frame after the last step starts the next chunk,
        # unless this is the last chunk, which keeps it as the terminal observation.
        n_frames = n_steps + 1 if final else n_steps
        assert self._buffer is not None
        frames = self._buffer[:n_frames]
        keyframe = self._index % self.keyframe_every == 0
        chunk = ChunkData(
            header={
                "episode": self.episode,
                "index": self._index,
                "first_frame": self._first_frame,
                "first_step": self._first_frame,
                "n_steps": n_steps,
                "final": final,
                "pixel_format": self.pixel_format,
                "palette": sorted(self.palette) if self.palette else None,
                "steps": self._steps,
            },
            frames=frames,
            previous_frame=None if keyframe else self._last_frame,
        )
        self._last_frame = frames[-1]
        rest = self._count - n_frames  # the frame after the last step starts the next chunk
        old = self._buffer
        self._buffer = np.empty_like(old)
        self._buffer[:rest] = old[n_frames : self._count]
        self._count = rest
        self._steps = {name: [] for name in STEP_FIELDS}
        self._first_frame += n_steps
        self._index += 1
        return chunk

    @property
    def chunks_cut(self) -> int:
        return self._index
