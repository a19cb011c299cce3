"""Replay a recorded episode from its env spec, seed and actions: every frame again, bit for bit.

ALE is deterministic: the same env kwargs, seed and actions give the same frames (sticky actions
included: the machine draws them from an RNG seeded with the episode's seed, see
games/engine/machines.py). A replay steps the very machine class the live
loop stepped (``AtariMachine``, ``GymMachine``), so the frames come out in exactly the form that
was recorded: palette indices, uint8 (H, W), for ALE games; the ``rgb_array`` render, uint8
(H, W, 3), for other envs. Frame 0 is the observation after ``reset(seed=seed)``; frame t + 1
follows action t.

The live loop starts an ALE episode by restoring the state a helper process reached with
``gym.make(env_id, **env_kwargs).reset(seed=seed)``; a replay simply resets with the seed. The
two agree (games/engine/tests/test_replay.py checks it across processes).

An ALE replay can stop and resume: ``Replayer.checkpoint()`` is the machine's state (with the
RNG, and the sticky actions' last action and RNG) and screen as bytes, and
``Replayer(..., resume=checkpoint)`` continues from it, in any process. Replay verification
(recording/verification.py) keeps one per episode while the episode is played, so finalisation
only replays the tail.

No Django here: exporters and notebooks can call ``replay`` directly.
"""

from __future__ import annotations

import struct
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from .errors import ReplayError
from .machines import AtariMachine, GymMachine, Machine, Outcome
from .registry import is_atari

_CACHE_PER_ENV = 2  # idle machines kept per env spec in each process (~85 ms to build one)


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """Frame ``number`` of a replay, and the step that produced it (nothing for frame 0)."""

    number: int
    frame: np.ndarray  # as recorded: palette indices (H, W) or RGB (H, W, 3); a copy
    action: int | None  # the action of step number - 1
    reward: float
    terminated: bool
    truncated: bool
    ram: np.ndarray | None = None  # ALE only, with_ram
    rgb: np.ndarray | None = None  # with_rgb (for RGB envs, the frame itself)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An ALE replay stopped at frame ``number``: the state to resume from."""

    number: int
    ale_state: bytes  # ALEState.serialize(), RNG included
    screen: np.ndarray  # palette indices of frame ``number``
    rgb: np.ndarray  # its RGB screen (restoring the state does not restore the screens)
    repeats: bytes = b""  # sticky actions: machines.Repeats.state(); empty without them

    # magic, number, len(state), len(repeats), height, width
    _HEADER = struct.Struct("<4sIIIII")
    _MAGIC = b"ARCQ"  # "ARCP" checkpoints (no sticky state) were made before sticky actions

    def to_bytes(self) -> bytes:
        height, width = self.screen.shape
        raw = (
            self._HEADER.pack(
                self._MAGIC, self.number, len(self.ale_state), len(self.repeats), height, width
            )
            + self.ale_state
            + self.repeats
            + np.ascontiguousarray(self.screen).tobytes()
            + np.ascontiguousarray(self.rgb).tobytes()
        )
        return zstandard.ZstdCompressor(level=1).compress(raw)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Checkpoint:
        try:
            raw = zstandard.ZstdDecompressor().decompress(blob)
            magic, number, n_state, n_repeats, height, width = cls._HEADER.unpack_from(raw)
        except (zstandard.ZstdError, struct.error) as exc:
            raise ReplayError(f"unreadable replay checkpoint: {exc}") from exc
        expected = cls._HEADER.size + n_state + n_repeats + 4 * height * width
        if magic != cls._MAGIC or len(raw) != expected:
            raise ReplayError("unreadable replay checkpoint: bad header or length")
        at = cls._HEADER.size
        state = raw[at : at + n_state]
        at += n_state
        repeats = raw[at : at + n_repeats]
        at += n_repeats
        screen = np.frombuffer(raw, np.uint8, height * width, at).reshape(height, width)
        at += height * width
        rgb = np.frombuffer(raw, np.uint8, 3 * height * width, at).reshape(height, width, 3)
        return cls(number=number, ale_state=state, screen=screen, rgb=rgb, repeats=repeats)


class _MachineCache:
    """Idle replay machines per env spec, so a worker does not rebuild ALE for every chunk."""

    def __init__(self) -> None:
        self._idle: dict[str, list[Machine]] = defaultdict(list)
        self._lock = threading.Lock()

    @staticmethod
    def key(env_id: str, env_kwargs: dict[str, Any]) -> str:
        return f"{env_id}|{sorted(env_kwargs.items())!r}"

    def take(self, env_id: str, env_kwargs: dict[str, Any]) -> Machine:
        with self._lock:
            idle = self._idle.get(self.key(env_id, env_kwargs))
            if idle:
                return idle.pop()
        try:
            if is_atari(env_id):
                return AtariMachine(env_id, env_kwargs)
            return GymMachine(env_id, env_kwargs)
        except Exception as exc:  # gymnasium raises many kinds for a bad id or kwargs
            raise ReplayError(f"cannot build {env_id} with {env_kwargs}: {exc}") from exc

    def give_back(self, env_id: str, env_kwargs: dict[str, Any], machine: Machine) -> None:
        with self._lock:
            idle = self._idle[self.key(env_id, env_kwargs)]
            if len(idle) < _CACHE_PER_ENV:
                idle.append(machine)
                return
        machine.close()


_machines = _MachineCache()


class Replayer:
    """One episode stepped again with the live machine's own step; resumable for ALE games.

    ``frame`` is the current frame, overwritten by the next step (copy it to keep it).
    Close the replayer (or use it as a context manager) to hand its machine back.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        seed: int,
        *,
        resume: Checkpoint | None = None,
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        self.machine = _machines.take(env_id, self.env_kwargs)
        if resume is not None and not self.resumable:
            self.close()
            raise ReplayError(f"{env_id} replays cannot resume (not ALE); replay from the seed")
        self.n_actions = len(self.machine.action_meanings)
        self._resumed_rgb: np.ndarray | None = None  # the RGB screen is not restored with ALE
        try:
            if resume is None:
                self.machine.start(seed, None)
                self.number = 0
            else:
                assert isinstance(self.machine, AtariMachine)
                import ale_py

                state = ale_py.ALEState(resume.ale_state)
                sticky = resume.repeats or None
                if (sticky is None) != (self.machine.repeats is None):
                    raise ReplayError("the checkpoint's sticky actions do not match the env's")
                self.machine.restore(state, resume.screen, resume.rgb, sticky)
                self.number = resume.number
                self._resumed_rgb = resume.rgb
        except BaseException:
            self.machine.close()
            raise

    @property
    def frame(self) -> np.ndarray:
        return self.machine.frame

    @property
    def resumable(self) -> bool:
        """Whether ``checkpoint`` can give a state to resume from exactly."""
        return isinstance(self.machine, AtariMachine)

    def step(self, action: int) -> Outcome:
        """Take the recorded action; the frame it produced is then ``frame``."""
        if not 0 <= action < self.n_actions:
            raise ReplayError(
                f"step {self.number}: action {action} is outside the env's {self.n_actions} actions"
            )
        machine = self.machine
        outcome = (
            machine.advance(action) if isinstance(machine, AtariMachine) else machine.step(action)
        )
        self.number += 1
        self._resumed_rgb = None
        return outcome

    def ram(self) -> np.ndarray | None:
        if isinstance(self.machine, AtariMachine):
            return np.asarray(self.machine.ale.getRAM(), np.uint8).copy()
        return None

    def rgb(self) -> np.ndarray:
        if self._resumed_rgb is not None:
            return self._resumed_rgb
        if isinstance(self.machine, AtariMachine):
            return np.asarray(self.machine.ale.getScreenRGB(), np.uint8)
        return self.machine.frame.copy()

    def checkpoint(self) -> Checkpoint | None:
        """Where this replay is now, to resume in any process; None when it cannot resume."""
        if not self.resumable or not isinstance(self.machine, AtariMachine):
            return None
        state, screen, rgb, repeats = self.machine.snapshot()
        return Checkpoint(
            number=self.number,
            ale_state=bytes(state.serialize()),
            screen=screen,
            rgb=rgb,
            repeats=repeats or b"",
        )

    def close(self) -> None:
        _machines.give_back(self.env_id, self.env_kwargs, self.machine)

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resumable(env_id: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether replays of this env can be checkpointed and resumed (ALE games)."""
    return is_atari(env_id)


def replay(
    env_id: str,
    env_kwargs: dict[str, Any],
    seed: int,
    actions: Iterable[int],
    *,
    with_ram: bool = False,
    with_rgb: bool = False,
    resume: Checkpoint | None = None,
) -> Iterator[ReplayFrame]:
    """Every frame of the episode, as recorded: frame 0 (after reset), then one per action.

    ``with_ram`` adds the ALE RAM (128 bytes) after each frame, ``with_rgb`` the RGB screen.
    With ``resume``, the first frame yielded is the checkpoint's and ``actions`` continue it.
    """
    with Replayer(env_id, env_kwargs, seed, resume=resume) as replayer:

        def current(action: int | None, outcome: Outcome | None) -> ReplayFrame:
            return ReplayFrame(
                number=replayer.number,
                frame=replayer.frame.copy(),
                action=action,
                reward=outcome.reward if outcome else 0.0,
                terminated=outcome.terminated if outcome else False,
                truncated=outcome.truncated if outcome else False,
                ram=replayer.ram() if with_ram else None,
                rgb=replayer.rgb().copy() if with_rgb else None,
            )

        yield current(None, None)
        for action in actions:
            outcome = replayer.step(int(action))
            yield current(int(action), outcome)
