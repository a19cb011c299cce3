"""Buffers one episode's steps and frames and cuts them into chunks.

Frame t is the observation before step t; frame 0 follows reset and frame T (the terminal
observation) follows the last step, so an episode of T steps has T + 1 frames. A chunk holds
the steps [a, b) and the frames [a, b); the last chunk also holds frame T.

A frame is kept as the 8-byte words that changed since the frame before (between two Atari
frames a few dozen of 4,200), which the live loop has already found for the wire: a step
costs the recorder two small arrays instead of a 33 KB frame copy. Only a keyframe chunk's
first frame is kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from games.engine import codec
from games.engine.machines import Machine, Outcome

from . import stepcolumns
from .chunkfile import KEYFRAME_EVERY, ChunkData, ChunkFields
from .stepcolumns import StepColumns

STEP_FIELDS = tuple(stepcolumns.TYPES)  # StepColumns' names: action, reward, …, t_sent


@dataclass(slots=True)
class InputStamp:
    """The input message in effect at a step: its seq, keys and the client's and server's times."""

    seq: int = 0
    client_frame: int | None = None
    t_shown: float | None = None  # client clock, ms
    t_key: float | None = None  # client clock, ms
    t_received: float | None = None  # server wall clock, s
    keys: tuple[str, ...] = ()  # the key codes held, as the message gave them


@dataclass
class Recorder:
    episode: str
    pixel_format: str
    chunk_steps: int
    keyframe_every: int = KEYFRAME_EVERY
    palette: list[list[int]] = field(default_factory=list)
    # The pending frames: the first one whole when the pending chunk is a keyframe chunk, and
    # every other one as its changed words (the first of a continuing chunk against the last
    # frame of the chunk before).
    _first: np.ndarray | None = None
    _deltas: list[codec.Sparse] = field(default_factory=list)
    _latest: np.ndarray | None = None  # the newest frame as given (the caller's buffer)
    _previous: np.ndarray | None = None  # a copy of it, kept only when steps come without words
    _steps: StepColumns = field(default_factory=stepcolumns.empty)
    _first_frame: int = 0
    _index: int = 0
    steps: int = 0
    total_return: float = 0.0

    def reset(self, frame: np.ndarray) -> None:
        self._first = frame.copy()
        self._latest = frame
        self._previous = self._first

    def state(self) -> dict[str, Any]:
        """Where the recording stands between chunks, to go on with it elsewhere (``resumed``).

        Call right after a cut: only the newest frame is pending, and it travels whole.
        """
        if self.pending_steps:
            raise ValueError("cut the pending steps before taking the recorder's state")
        return {
            "index": self._index,
            "first_frame": self._first_frame,
            "steps": self.steps,
            "total_return": self.total_return,
            "palette": self.palette,
        }

    @classmethod
    def resumed(
        cls,
        *,
        episode: str,
        pixel_format: str,
        chunk_steps: int,
        state: dict[str, Any],
        frame: np.ndarray,
    ) -> Recorder:
        """A recorder going on from ``state``; its next chunk starts whole with ``frame``."""
        recorder = cls(
            episode=episode,
            pixel_format=pixel_format,
            chunk_steps=chunk_steps,
            palette=[list(entry) for entry in state["palette"]],
        )
        recorder._index = state["index"]
        recorder._first_frame = state["first_frame"]
        recorder.steps = state["steps"]
        recorder.total_return = state["total_return"]
        recorder.reset(frame)
        return recorder

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
        words: codec.Sparse | None = None,
    ) -> None:
        """Record step ``self.steps`` and the frame it produced.

        ``words`` are the frame's changed words against the frame before (``codec.sparse``);
        without them the recorder finds them itself, keeping a copy of every frame. ``frame``
        must not change before the next step or cut (the machines' buffers do not).
        """
        latest = self._latest
        if latest is None:
            raise ValueError("reset the recorder with the first frame before recording steps")
        if frame.shape != latest.shape:
            raise ValueError("the frame shape changed during the episode")
        if words is None:
            before = self._previous if self._previous is not None else latest
            words = codec.sparse(np.bitwise_xor(frame, before))
            self._previous = frame.copy()
        else:
            self._previous = None
        self._deltas.append(words)
        self._latest = frame
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
        s["keys"].append(stamp.keys)
        s["t_sent"].append(None)  # set by ``sent`` once the frame has gone out
        self.steps += 1
        self.total_return += reward

    def sent(self, t_sent: float) -> None:
        """The frame of the step recorded last went to the player at ``t_sent`` (wall clock, s).

        Not called for a frame flow control dropped: its ``t_sent`` stays null.
        """
        if self.pending_steps:
            self._steps["t_sent"][-1] = t_sent

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
        assert self._latest is not None
        # Frames [a, a + n_steps) go now; the frame after the last step starts the next chunk,
        # unless this is the last chunk, which keeps it as the terminal observation.
        n_frames = n_steps + 1 if final else n_steps
        first = self._first
        n_deltas = n_frames - (first is not None)
        chunk = ChunkData(
            header=ChunkFields(
                episode=self.episode,
                index=self._index,
                first_frame=self._first_frame,
                first_step=self._first_frame,
                n_steps=n_steps,
                final=final,
                pixel_format=self.pixel_format,
                palette=sorted(self.palette) if self.palette else None,
                steps=self._steps,
            ),
            shape=tuple(self._latest.shape),
            first=first,
            deltas=self._deltas[:n_deltas],
        )
        self._deltas = self._deltas[n_deltas:]  # the next chunk's first frame, when not final
        self._steps = stepcolumns.empty()
        self._first_frame += n_steps
        self._index += 1
        self._first = None
        if self._index % self.keyframe_every == 0 and not final:
            # The next chunk is a keyframe chunk: its first frame (the newest) is kept whole.
            self._first = self._latest.copy()
            self._deltas = []
        return chunk

    @property
    def chunks_cut(self) -> int:
        return self._index


def record_step(
    recorder: Recorder,
    machine: Machine,
    *,
    action: int,
    outcome: Outcome,
    stamp: InputStamp,
    t_step: float,
    truncated: bool | None = None,
) -> tuple[list[list[int]], codec.Sparse | None]:
    """Record the step ``machine`` has just taken, as the live loop does.

    Returns the palette entries the step's frame showed first (already recorded) and the
    frame's changed words, both of which the live loop also sends to the player.
    ``truncated`` overrides the env's (a step limit).
    """
    entries: list[list[int]] = []
    colours = machine.new_colours()
    if colours and machine.palette is not None:
        entries = machine.palette.entries(colours)
        recorder.add_colours(entries)
    diff = machine.diff
    # The changed words, found once: they are both the recording and the wire delta.
    words = codec.sparse(diff, machine.changed) if diff is not None else None
    recorder.step(
        action=action,
        reward=outcome.reward,
        terminated=outcome.terminated,
        truncated=outcome.truncated if truncated is None else truncated,
        info=outcome.info,
        stamp=stamp,
        t_step=t_step,
        frame=machine.frame,
        words=words,
    )
    return entries, words
