"""Buffers one episode's steps and frames and cuts them into chunks.

Frame t is the observation before step t; frame 0 follows reset and frame T (the terminal
observation) follows the last step, so an episode of T steps has T + 1 frames. A chunk holds
the steps [a, b) and the frames [a, b); the last chunk also holds frame T.

A frame is kept as the 8-byte words that changed since the frame before (between two Atari
frames a few dozen of 4,200), which the live loop has already found for the wire: a step
costs the recorder two small arrays instead of a 33 KB frame copy. Only a keyframe chunk's
first frame is kept whole.

A multi-seat episode records the same columns for seat 0 (its action, reward and input stamp:
what a one-seat episode records for its player, so everything that reads one seat reads it)
and, per step, a ``SeatsRecord``: every seat's action, reward, input stamp, holder and whether
its action was decided for this step (chunk format 6's per-seat columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from games.engine import codec
from games.engine.machines import Outcome
from games.engine.palette import Palette

from . import stepcolumns
from .chunkfile import KEYFRAME_EVERY, ChunkData, ChunkFields
from .stepcolumns import SeatStamp, StepColumns

STEP_FIELDS = tuple(stepcolumns.TYPES)  # StepColumns' names: action, reward, …, seat_fresh
SEAT_COLUMNS = ("seat_actions", "seat_rewards", "seat_stamps", "seat_holders", "seat_fresh")


@dataclass(slots=True)
class InputStamp:
    """The input message in effect at a step: its seq, keys and the client's and server's times."""

    seq: int = 0
    client_frame: int | None = None
    t_shown: float | None = None  # client clock, ms
    t_key: float | None = None  # client clock, ms
    t_received: float | None = None  # server wall clock, s
    keys: tuple[str, ...] = ()  # the key codes held, as the message gave them

    def as_seat_stamp(self) -> SeatStamp:
        return SeatStamp(
            seq=self.seq,
            client_frame=self.client_frame,
            t_shown=self.t_shown,
            t_key=self.t_key,
            t_received=self.t_received,
            keys=list(self.keys),
        )


HOLDER_VACANT = "vacant"


def holder_of_user(user_id: int) -> str:
    """A person's seat, as ``SeatsRecord.holders`` names it."""
    return f"user:{user_id}"


def holder_of_policy(policy_id: int) -> str:
    """An AI policy's seat, as ``SeatsRecord.holders`` names it."""
    return f"policy:{policy_id}"


@dataclass(frozen=True, slots=True)
class SeatsRecord:
    """One step of a multi-seat episode, seat by seat (index 0 first).

    ``holders`` name who held each seat at the step: ``"user:<pk>"``, ``"policy:<pk>"`` or
    ``"vacant"`` (``holder_of_user``, ``holder_of_policy``); the episode's ``EpisodeSeat``
    rows say the same from the step each holder took the seat. ``fresh`` says whether the
    seat's action came from a decision made for this step: always for a person (their keys
    are read every step), for a policy only on the steps it decided (it holds its action in
    between), never for a vacant seat.
    """

    actions: tuple[int, ...]  # the joint action
    rewards: tuple[float, ...]
    stamps: tuple[InputStamp, ...]  # each seat's input message in effect
    holders: tuple[str, ...]
    fresh: tuple[bool, ...]

    def __post_init__(self) -> None:
        seats = len(self.actions)
        lengths = {len(self.rewards), len(self.stamps), len(self.holders), len(self.fresh)}
        if seats == 0 or lengths != {seats}:
            raise ValueError(
                "a SeatsRecord holds one action, reward, stamp, holder and fresh flag per seat "
                f"(got {seats} actions and {sorted(lengths)} of the others)"
            )


@dataclass(slots=True)
class _SeatValues:
    """What ``Recorder._record_seats`` recorded at a step, and the stamps it made them of."""

    actions: list[int]
    rewards: list[float]
    stamped: tuple[InputStamp, ...]
    stamps: list[SeatStamp]
    holders: list[str]
    fresh: list[bool]


def _same_objects(these: tuple[object, ...], those: tuple[object, ...]) -> bool:
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


class Recordable(Protocol):
    """What ``record_step`` reads of a machine: a one-seat ``Machine`` or a multi-seat
    ``MultiMachine`` (games/engine/multiplayer.py) alike."""

    frame: np.ndarray
    diff: np.ndarray | None
    changed: np.ndarray | None
    palette: Palette | None

    def new_colours(self) -> list[int]: ...


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
    _last_seats: _SeatValues | None = None  # a multi-seat step's values, for the next
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
        seats: SeatsRecord | None = None,
    ) -> None:
        """Record step ``self.steps`` and the frame it produced.

        ``seats``: every seat's part in the step, for a multi-seat episode (``action``,
        ``reward`` and ``stamp`` are then seat 0's). ``words`` are the frame's changed words
        against the frame before (``codec.sparse``); without them the recorder finds them
        itself, keeping a copy of every frame. ``frame``
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
        if seats is None:
            s["seat_actions"].append(None)
            s["seat_rewards"].append(None)
            s["seat_stamps"].append(None)
            s["seat_holders"].append(None)
            s["seat_fresh"].append(None)
        else:
            self._record_seats(s, seats)
        self.steps += 1
        self.total_return += reward

    def _record_seats(self, s: StepColumns, seats: SeatsRecord) -> None:
        """A multi-seat step's per-seat values. A value the same as the step before's is the
        very object recorded then: the chunk's encoder makes a value's JSON once for a run of
        one object (``stepcolumns._pack_distinct``), and seats hold their keys, holders and
        rewards for many steps; made anew every step, they cost a two-seat step 30 µs of JSON.
        """
        last = self._last_seats
        actions = [int(a) for a in seats.actions]
        rewards = [float(r) for r in seats.rewards]
        fresh = [bool(f) for f in seats.fresh]
        if last is not None:
            if actions == last.actions:
                actions = last.actions
            # By their bits: 0.0 and -0.0 are equal, and would not be stored alike.
            if [r.hex() for r in rewards] == [r.hex() for r in last.rewards]:
                rewards = last.rewards
            if fresh == last.fresh:
                fresh = last.fresh
        if last is not None and _same_objects(seats.stamps, last.stamped):
            stamps = last.stamps
        else:
            stamps = [stamp.as_seat_stamp() for stamp in seats.stamps]
        holders = list(seats.holders)
        if last is not None and holders == last.holders:
            holders = last.holders
        self._last_seats = _SeatValues(actions, rewards, seats.stamps, stamps, holders, fresh)
        s["seat_actions"].append(actions)
        s["seat_rewards"].append(rewards)
        s["seat_stamps"].append(stamps)
        s["seat_holders"].append(holders)
        s["seat_fresh"].append(fresh)

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
    machine: Recordable,
    *,
    action: int,
    outcome: Outcome,
    stamp: InputStamp,
    t_step: float,
    truncated: bool | None = None,
    seats: SeatsRecord | None = None,
) -> tuple[list[list[int]], codec.Sparse | None]:
    """Record the step ``machine`` has just taken, as the live loop does.

    Returns the palette entries the step's frame showed first (already recorded) and the
    frame's changed words, both of which the live loop also sends to the player.
    ``truncated`` overrides the env's (a step limit).

    A multi-seat step passes ``seats`` and, for seat 0, ``action=seats.actions[0]``,
    ``stamp=seats.stamps[0]`` and an ``Outcome`` made from the ``MultiOutcome`` with
    ``reward=rewards[0]``, ``lives=lives[0]`` and its ``info`` as it is (per-seat ``lives``
    and, with sticky actions, ``applied``: replay verification compares them). The episode's
    return is seat 0's.
    """
    if seats is not None and (action, outcome.reward) != (seats.actions[0], seats.rewards[0]):
        raise ValueError(
            "a multi-seat step records seat 0's action and reward in the one-seat columns: "
            f"action {action} and reward {outcome.reward}, but seat 0 has "
            f"{seats.actions[0]} and {seats.rewards[0]}"
        )
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
        seats=seats,
    )
    return entries, words
