"""Replay a recorded multi-seat episode from its game, seed and joint actions, bit for bit.

The multi-seat counterpart of games/engine/replay.py: a replay steps the very machine class
the live loop stepped (``MultiAtariMachine``, or ``BoardMachine`` for a board game), so the
frames come out as recorded: palette indices, uint8 (H, W), for Atari; RGB (H, W, 3) for a
board game. Frame 0 is the frame after ``start(seed)``; frame t + 1 follows joint action t.
An Atari replay can stop and resume in any process: ``MultiReplayer.checkpoint()`` is the
machine's snapshot (ALE's system state, the screens, each seat's sticky actions) as bytes.
A board game's is replayed whole, as a one-seat Gymnasium env's is (a game is at most a few
hundred steps, each a few microseconds): it makes no checkpoints.

No Django here: exporters and notebooks can call ``replay_multi`` directly.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .boards import BoardMachine, is_board_game
from .errors import ReplayError
from .multiplayer import MultiAtariMachine, MultiOutcome, MultiSnapshot


@dataclass(frozen=True, slots=True)
class MultiReplayFrame:
    """Frame ``number`` of a replay, and the step that produced it (nothing for frame 0)."""

    number: int
    frame: np.ndarray  # palette indices (H, W); a copy
    actions: tuple[int, ...] | None  # the joint action of step number - 1
    rewards: tuple[float, ...]  # one per seat
    terminated: bool
    truncated: bool
    ram: np.ndarray | None = None  # with_ram
    rgb: np.ndarray | None = None  # with_rgb


@dataclass(frozen=True, slots=True)
class MultiCheckpoint:
    """A multi-seat replay stopped at frame ``number``: the state to resume from."""

    number: int
    snapshot: MultiSnapshot

    _NUMBER = struct.Struct("<I")

    def to_bytes(self) -> bytes:
        return self._NUMBER.pack(self.number) + self.snapshot.to_bytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> MultiCheckpoint:
        try:
            (number,) = cls._NUMBER.unpack_from(blob)
            snapshot = MultiSnapshot.from_bytes(blob[cls._NUMBER.size :])
        except (struct.error, ValueError) as exc:
            raise ReplayError(f"unreadable multi-seat replay checkpoint: {exc}") from exc
        return cls(number=number, snapshot=snapshot)


class MultiReplayer:
    """One multi-seat episode stepped again with the live machine's own step; resumable.

    ``env_kwargs`` are the machine's keyword arguments (frameskip, repeat_action_probability,
    max_steps), as the episode recorded them. ``frame`` is the current frame, overwritten by
    the next step (copy it to keep it).
    """

    def __init__(
        self,
        game: str,
        env_kwargs: dict[str, Any],
        seed: int,
        *,
        resume: MultiCheckpoint | None = None,
    ) -> None:
        self.machine: MultiAtariMachine | BoardMachine
        try:
            if is_board_game(game):
                self.machine = BoardMachine(game, **env_kwargs)
            else:
                self.machine = MultiAtariMachine(game, **env_kwargs)
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise ReplayError(f"cannot build {game} with {env_kwargs}: {exc}") from exc
        self._resumed_rgb: np.ndarray | None = None  # restoring ALE does not restore its screen
        try:
            if resume is None:
                self.machine.start(seed, None)
                self.number = 0
            elif isinstance(self.machine, BoardMachine):
                raise ReplayError(f"{game} is a board game: it is replayed whole, not resumed")
            else:
                # The checkpoint holds all of the sticky actions' state: nothing to seed.
                if bool(resume.snapshot.repeats) != (self.machine.repeats is not None):
                    raise ReplayError("the checkpoint's sticky actions do not match the game's")
                self.machine.restore(resume.snapshot)
                self.number = resume.number
                self._resumed_rgb = resume.snapshot.rgb
        except ValueError as exc:
            self.close()
            raise ReplayError(f"cannot start {game}: {exc}") from exc

    @property
    def frame(self) -> np.ndarray:
        return self.machine.frame

    def step(self, joint_actions: Sequence[int]) -> MultiOutcome:
        """Take the recorded joint action; the frame it produced is then ``frame``."""
        try:
            outcome = self.machine.advance(joint_actions)
        except ValueError as exc:
            raise ReplayError(f"step {self.number}: {exc}") from exc
        self.number += 1
        self._resumed_rgb = None
        return outcome

    def ram(self) -> np.ndarray:
        return self.machine.ram()

    def rgb(self) -> np.ndarray:
        if self._resumed_rgb is not None:
            return self._resumed_rgb
        return self.machine.rgb()

    @property
    def resumable(self) -> bool:
        """Whether ``checkpoint`` can stop this replay to resume it (not a board game's)."""
        return isinstance(self.machine, MultiAtariMachine)

    def checkpoint(self) -> MultiCheckpoint | None:
        """Where this replay is now, to resume in any process; None for a board game's,
        which is replayed whole."""
        if not isinstance(self.machine, MultiAtariMachine):
            return None
        return MultiCheckpoint(number=self.number, snapshot=self.machine.snapshot())

    def close(self) -> None:
        self.machine.close()

    def __enter__(self) -> MultiReplayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay_multi(
    game: str,
    env_kwargs: dict[str, Any],
    seed: int,
    joint_actions: Iterable[Sequence[int]],
    *,
    with_ram: bool = False,
    with_rgb: bool = False,
    resume: MultiCheckpoint | None = None,
) -> Iterator[MultiReplayFrame]:
    """Every frame of the episode, as recorded: frame 0 (after start), then one per joint
    action. ``with_ram`` adds the RAM after each frame, ``with_rgb`` the RGB screen. With
    ``resume``, the first frame yielded is the checkpoint's and the actions continue it."""
    with MultiReplayer(game, env_kwargs, seed, resume=resume) as replayer:
        seats = replayer.machine.seats

        def current(
            actions: tuple[int, ...] | None, outcome: MultiOutcome | None
        ) -> MultiReplayFrame:
            return MultiReplayFrame(
                number=replayer.number,
                frame=replayer.frame.copy(),
                actions=actions,
                rewards=tuple(outcome.rewards) if outcome else (0.0,) * seats,
                terminated=outcome.terminated if outcome else False,
                truncated=outcome.truncated if outcome else False,
                ram=replayer.ram() if with_ram else None,
                rgb=replayer.rgb().copy() if with_rgb else None,
            )

        yield current(None, None)
        for joint in joint_actions:
            actions = tuple(int(action) for action in joint)
            outcome = replayer.step(actions)
            yield current(actions, outcome)
