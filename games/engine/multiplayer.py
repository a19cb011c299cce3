"""Atari games for two or four seats: one emulator stepped with every seat's action at once.

ALE's two-player modes are driven through ``multi-agent-ale-py`` directly (PettingZoo's atari
envs wrap the same library and are the reference in games/engine/tests/test_multiplayer.py:
same modes, same action sets, same seat order, same frames and rewards). ROMs come from the
ale-py wheel's own folder, so nothing is downloaded, ever.

A ``MultiAtariMachine`` has the shape of ``AtariMachine`` (games/engine/machines.py): palette
index frames in two screens used in turn, the difference from the frame before, a palette
learned as colours appear, ``freeze``/``thaw`` to move a game between processes. What differs:

- ``step`` takes a joint action, one action index per seat in seat order, and its outcome has
  one reward and one count of lives per seat (``MultiOutcome``).
- Seat ``i`` is PettingZoo's ``possible_agents[i]``: seat 0 is ``first_0``, seat 1
  ``second_0`` (``MultiSeatGame.seat_names``).
- Every seat of a game chooses from the same minimal action set (ALE maps the second
  player's joystick itself); ``action_meanings`` still has one list per seat, so that a game
  whose seats differ needs no new shape.
- A seat whose lives are below 0 is out of the game (PettingZoo ends that agent); the episode
  ends when ALE says the game is over (``terminated``) or after ``max_steps`` steps
  (``truncated``, PettingZoo's ``max_cycles``).

Sticky actions are drawn here, as in ``AtariMachine``: ALE runs with p = 0 and each seat has a
``Repeats`` of its own, seeded with ``4 * seed + seat`` (at most four seats), so the last
actions and the RNGs travel with a frozen game. The seed is otherwise ALE's ``random_seed``, as
PettingZoo's ``reset(seed=seed)`` sets it.

Nothing first-party outside games/engine is imported, and nothing of it that imports Django:
a test checks it.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import ale_py.roms
import multi_agent_ale_py
import numpy as np
import zstandard
from multi_agent_ale_py.ale_python_interface import ale_lib, as_ctypes

from .palette import Palette
from .screens import Screens
from .sticky import Repeats

PIXELS_INDEXED = "indexed"  # as machines.PIXELS_INDEXED, which this module must not import
ROMS = Path(ale_py.roms.__file__).parent
MAX_SEATS = 4
SEAT_NAMES = ("first_0", "second_0", "third_0", "fourth_0")  # PettingZoo's agents, in order

# ALE's actions by id (ale_py.Action), the names the key maps are written against.
ACTION_NAMES = (
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
)  # fmt: skip
JOYSTICK = tuple(range(18))
PADDLE = (0, 1, 3, 4, 11, 12)  # NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE
WIZARD = (1, 2, 3, 4, 5, 10, 11, 12, 13)  # FIRE, the four directions, each with FIRE


@dataclass(frozen=True, slots=True)
class MultiSeatGame:
    """One multi-seat game: a ROM in one of its modes for ``seats`` players."""

    name: str  # PettingZoo's env name without its version ("pong", "space_invaders")
    rom: str  # the ROM's file in ale-py's folder, without ".bin"
    seats: int
    mode: int
    actions: tuple[int, ...]  # ALE action ids each seat chooses from, by action index
    reference: str  # the PettingZoo env this game is checked against in the tests: its id
    reference_kwargs: tuple[tuple[str, Any], ...] = ()  # that env's arguments for this mode
    # Who each seat is on the screen, for per-seat instructions; empty until someone has looked
    # (test_multiplayer.py checks each against the colour of what that seat moves).
    roles: tuple[str, ...] = ()

    @property
    def action_meanings(self) -> list[str]:
        return [ACTION_NAMES[action] for action in self.actions]

    @property
    def seat_names(self) -> list[str]:
        """Who is which player, as PettingZoo names them: seat 0 is ``first_0``."""
        return list(SEAT_NAMES[: self.seats])


# Who each seat is, as a player sees the screen at the start (seat 0 first).
ROLES: dict[str, tuple[str, ...]] = {
    "boxing": ("the white boxer", "the black boxer"),
    "pong": ("the green paddle, on the right", "the orange paddle, on the left"),
    "space_invaders": ("the green cannon, on the left", "the yellow cannon, on the right"),
    "tennis": (
        "the pink player, who starts at the far end",
        "the blue player, who starts at the near end",
    ),
}


def _game(
    name: str,
    rom: str,
    seats: int,
    mode: int,
    actions: tuple[int, ...],
    reference: str,
    **reference_kwargs: Any,
) -> MultiSeatGame:
    """A row of the table below; ``reference`` as PettingZoo's module is named ("pong_v3")."""
    env, version = reference.rsplit("_v", 1)
    kwargs = tuple(sorted(reference_kwargs.items()))
    roles = ROLES.get(name, ())
    return MultiSeatGame(name, rom, seats, mode, actions, f"atari/{env}-v{version}", kwargs, roles)


# Every mode PettingZoo's atari envs offer by default (pong also with four players), with
# their modes and action sets as PettingZoo sets them; test_multiplayer.py checks each.
# fishing_derby and backgammon have two-player modes too, but no reference to check them by.
MULTI_SEAT_GAMES: tuple[MultiSeatGame, ...] = (
    _game("basketball_pong", "pong", 2, 45, PADDLE, "basketball_pong_v3"),
    _game("boxing", "boxing", 2, 2, JOYSTICK, "boxing_v2"),
    _game("combat_plane", "combat", 2, 15, JOYSTICK, "combat_plane_v2"),
    _game("combat_tank", "combat", 2, 9, JOYSTICK, "combat_tank_v2"),
    _game("double_dunk", "double_dunk", 2, 16, JOYSTICK, "double_dunk_v3"),
    _game("entombed_competitive", "entombed", 2, 2, JOYSTICK, "entombed_competitive_v3"),
    _game("entombed_cooperative", "entombed", 2, 3, JOYSTICK, "entombed_cooperative_v3"),
    _game("flag_capture", "flag_capture", 2, 1, tuple(range(10)), "flag_capture_v2"),
    _game("foozpong", "pong", 4, 21, PADDLE, "foozpong_v3"),
    _game("ice_hockey", "ice_hockey", 2, 1, JOYSTICK, "ice_hockey_v2"),
    _game("joust", "joust", 2, 1, JOYSTICK, "joust_v3"),
    _game("mario_bros", "mario_bros", 2, 2, JOYSTICK, "mario_bros_v3"),
    _game("maze_craze", "maze_craze", 2, 4, JOYSTICK, "maze_craze_v3"),
    _game("othello", "othello", 2, 4, tuple(range(10)), "othello_v3"),
    _game("pong", "pong", 2, 4, PADDLE, "pong_v3"),
    _game("pong_4p", "pong", 4, 6, PADDLE, "pong_v3", num_players=4),
    _game("quadrapong", "pong", 4, 33, PADDLE, "quadrapong_v4"),
    _game("space_invaders", "space_invaders", 2, 34, PADDLE, "space_invaders_v2"),
    _game("space_war", "space_war", 2, 1, JOYSTICK, "space_war_v2"),
    _game("surround", "surround", 2, 1, (0, 2, 3, 4, 5), "surround_v2"),
    _game("tennis", "tennis", 2, 2, JOYSTICK, "tennis_v3"),
    _game("video_checkers", "video_checkers", 2, 10, (1, 6, 7, 8, 9), "video_checkers_v4"),
    _game("volleyball_pong", "pong", 4, 41, PADDLE, "volleyball_pong_v3"),
    _game("warlords", "warlords", 4, 1, PADDLE, "warlords_v3"),
    _game("wizard_of_wor", "wizard_of_wor", 2, 1, WIZARD, "wizard_of_wor_v3"),
)  # fmt: skip


def multi_seat_games() -> list[MultiSeatGame]:
    """Every multi-seat game a ``MultiAtariMachine`` can play, by name."""
    return sorted(MULTI_SEAT_GAMES, key=lambda game: game.name)


def multi_seat_game(name: str) -> MultiSeatGame:
    """The game called ``name``; ValueError naming the known ones when there is none."""
    for game in MULTI_SEAT_GAMES:
        if game.name == name:
            return game
    known = ", ".join(game.name for game in multi_seat_games())
    raise ValueError(f"no multi-seat game {name!r}; the known ones are {known}")


@dataclass(slots=True)
class MultiOutcome:
    rewards: list[float]  # one per seat, in seat order
    terminated: bool  # the game is over for every seat
    truncated: bool  # max_steps reached
    lives: list[int]  # one per seat; below 0 when that seat is out of the game
    info: dict[str, Any] = field(default_factory=dict)


class MultiMachine(Protocol):
    """What a match steps when its game has several seats (``machines.Machine``'s shape, with
    a joint action and one reward per seat); ``MultiAtariMachine`` is one."""

    pixel_format: str
    seats: int
    frame: np.ndarray  # the current frame; overwritten by the next step, copy it to keep it
    diff: np.ndarray | None  # frame XOR the frame before; None right after start
    changed: np.ndarray | None  # indices of the 8-byte words of diff that are not 0
    palette: Palette | None
    action_meanings: list[list[str]]  # per seat

    def start(self, seed: int, state: bytes | None) -> list[int]: ...

    def step(self, joint_actions: Sequence[int]) -> MultiOutcome: ...

    def new_colours(self) -> list[int]: ...

    def freeze(self) -> bytes: ...

    def thaw(self, frozen: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MultiSnapshot:
    """A multi-seat game at one step, to go on with in any process (``MultiAtariMachine``).

    ``to_bytes`` is its stored form (start states, replay checkpoints): a header and raw
    arrays, zstd-compressed, so reading one back runs no pickle.
    """

    game: str
    state: bytes  # ALE's system state (emulator and its RNG), as encodeState gives it
    screen: np.ndarray  # palette indices: restoring the state does not restore the screens
    rgb: np.ndarray
    repeats: tuple[bytes, ...]  # each seat's Repeats.state(); empty without sticky actions
    steps: int  # steps taken since the start, for truncation

    # magic, steps, len(game), len(state), number of repeats, height, width
    _HEADER = struct.Struct("<4sIIIIII")
    _MAGIC = b"ARCM"
    _REPEATS_SIZE = 626 * 4  # Repeats.state(): the last action and the Mersenne Twister

    def to_bytes(self) -> bytes:
        height, width = self.screen.shape
        name = self.game.encode()
        header = self._HEADER.pack(
            self._MAGIC, self.steps, len(name), len(self.state), len(self.repeats), height, width
        )
        raw = b"".join(
            [
                header,
                name,
                self.state,
                *self.repeats,
                np.ascontiguousarray(self.screen, np.uint8).tobytes(),
                np.ascontiguousarray(self.rgb, np.uint8).tobytes(),
            ]
        )
        return zstandard.ZstdCompressor(level=1).compress(raw)

    @classmethod
    def from_bytes(cls, blob: bytes) -> MultiSnapshot:
        """The snapshot ``to_bytes`` gave; ValueError for anything else."""
        try:
            raw = zstandard.ZstdDecompressor().decompress(blob)
            magic, steps, n_name, n_state, n_repeats, height, width = cls._HEADER.unpack_from(raw)
        except (zstandard.ZstdError, struct.error) as exc:
            raise ValueError(f"not a multi-seat snapshot: {exc}") from exc
        pixels = height * width
        expected = cls._HEADER.size + n_name + n_state + n_repeats * cls._REPEATS_SIZE + 4 * pixels
        if magic != cls._MAGIC or len(raw) != expected:
            raise ValueError("not a multi-seat snapshot: bad header or length")
        at = cls._HEADER.size
        game = raw[at : at + n_name].decode()
        at += n_name
        state = raw[at : at + n_state]
        at += n_state
        repeats = []
        for _ in range(n_repeats):
            repeats.append(raw[at : at + cls._REPEATS_SIZE])
            at += cls._REPEATS_SIZE
        screen = np.frombuffer(raw, np.uint8, pixels, at).reshape(height, width)
        rgb = np.frombuffer(raw, np.uint8, 3 * pixels, at + pixels).reshape(height, width, 3)
        return cls(game, state, screen, rgb, tuple(repeats), steps)


class MultiAtariMachine:
    """Steps one ALE for every seat of a multi-seat game; see the module's docstring.

    ``game`` is a ``MultiSeatGame`` name; the keyword arguments are named as in a single-seat
    game's ``env_kwargs``, so a catalogue entry can pass those.
    """

    pixel_format = PIXELS_INDEXED

    def __init__(
        self,
        game: str,
        *,
        frameskip: int = 1,
        repeat_action_probability: float = 0.0,
        max_steps: int = 100_000,
        full_action_space: bool = False,
    ) -> None:
        self.game = multi_seat_game(game)
        if not isinstance(frameskip, int) or isinstance(frameskip, bool) or frameskip < 1:
            raise ValueError(
                f"frameskip must be a whole number of frames, 1 or more, not {frameskip!r} "
                "(a random frameskip could not be replayed)"
            )
        if not 0.0 <= repeat_action_probability < 1.0:
            raise ValueError(
                "repeat_action_probability must be at least 0 and below 1, not "
                f"{repeat_action_probability!r}"
            )
        self.frameskip = frameskip
        self.sticky = float(repeat_action_probability)
        self.max_steps = max_steps
        self.seats = self.game.seats
        # ALE action ids by action index: the game's minimal set, or all 18 (PettingZoo's
        # full_action_space; for a policy trained on every action).
        self.actions = JOYSTICK if full_action_space else self.game.actions
        meanings = [ACTION_NAMES[action] for action in self.actions]
        self.action_meanings = [list(meanings) for _ in range(self.seats)]
        self._n_actions = len(self.actions)
        # Sticky actions are ours (ALE's are off, see the module's docstring).
        self.repeats = [Repeats(self.sticky) for _ in range(self.seats)] if self.sticky else None
        multi_agent_ale_py.ALEInterface.setLoggerMode("error")  # before ALE prints its banner
        self.ale = multi_agent_ale_py.ALEInterface()
        self._load(seed=0)
        width, height = self.ale.getScreenDims()
        self._screens = Screens(height, width)
        self.frame = self._screens.pair[0]
        self.diff: np.ndarray | None = None
        self.changed: np.ndarray | None = None
        self.palette: Palette | None = Palette()
        self.steps = 0
        # The library's ``act`` builds arrays on every call; stepping through its C functions
        # with buffers made once is a fifth faster (bench/multiplayer.py).
        self._joint = np.zeros(self.seats, np.intc)
        self._frame_rewards = np.zeros(self.seats, np.intc)
        self._joint_pointer = as_ctypes(self._joint)
        self._rewards_pointer = as_ctypes(self._frame_rewards)
        self._screen_pointers = tuple(as_ctypes(s.reshape(-1)) for s in self._screens.pair)
        self._lives = np.zeros(ale_lib.livesSize(self.ale.obj), np.intc)
        self._lives_pointer = as_ctypes(self._lives)

    def _load(self, seed: int) -> None:
        """Load the ROM in the game's mode with ALE seeded, as PettingZoo's ``_seed`` does."""
        rom = ROMS / f"{self.game.rom}.bin"
        if not rom.is_file():  # ALE would abort the process on a missing ROM
            raise FileNotFoundError(f"{rom} is missing: reinstall ale-py, whose wheel has it")
        self.ale.setFloat(b"repeat_action_probability", 0.0)
        self.ale.setInt(b"random_seed", seed)
        self.ale.loadROM(str(rom))
        self.ale.setMode(self.game.mode)
        if self.ale.numPlayersActive() != self.seats:
            raise ValueError(f"{self.game.rom} mode {self.game.mode} is not {self.seats} seats")

    def start(self, seed: int, state: bytes | None) -> list[int]:
        """Put the machine at the start of an episode, as PettingZoo's ``reset(seed=seed)``
        would, or at ``state`` (``multi_start_state``'s, made in a helper process: loading the
        ROM takes ~85 ms); return the palette indices the first frame shows."""
        if not 0 <= seed < 2**31:
            raise ValueError(f"a seed is a whole number from 0 to 2**31 - 1, not {seed}")
        if self.repeats is not None:
            for seat, repeats in enumerate(self.repeats):
                repeats.start(MAX_SEATS * seed + seat)
        if state is not None:
            return self.restore(MultiSnapshot.from_bytes(state))
        self.palette = Palette()
        self.diff = self.changed = None
        self.steps = 0
        self._load(seed)
        self.ale.reset_game()
        ale_lib.getScreen(self.ale.obj, self._screen_pointer())
        return self.palette.learn(self.frame, self.ale.getScreenRGB())

    def restore(self, snapshot: MultiSnapshot) -> list[int]:
        """Continue from ``snapshot`` (a start state has no sticky actions' state: ``start``
        has seeded them); return the palette indices of its frame, which the palette now
        knows alone."""
        self._go_to(snapshot)
        self.palette = Palette()
        return self.palette.learn(self.frame, snapshot.rgb)

    def _go_to(self, snapshot: MultiSnapshot) -> None:
        """The emulator, screen, sticky actions and step count of ``snapshot``; not colours."""
        if snapshot.game != self.game.name:
            raise ValueError(f"a state of {snapshot.game} cannot go on in {self.game.name}")
        if snapshot.repeats and self.repeats is None:
            raise ValueError("the state has sticky actions and this machine has none")
        self.diff = self.changed = None
        state = self.ale.decodeState(np.frombuffer(snapshot.state, np.uint8).copy())
        try:
            self.ale.restoreSystemState(state)
        finally:
            self.ale.deleteState(state)
        np.copyto(self.frame, snapshot.screen)
        if snapshot.repeats and self.repeats is not None:
            for repeats, saved in zip(self.repeats, snapshot.repeats, strict=True):
                repeats.set_state(saved)
        self.steps = snapshot.steps

    def snapshot(self) -> MultiSnapshot:
        """The machine now, for ``restore``."""
        state = self.ale.cloneSystemState()
        try:
            encoded = bytes(self.ale.encodeState(state))
        finally:
            self.ale.deleteState(state)
        return MultiSnapshot(
            game=self.game.name,
            state=encoded,
            screen=self.frame.copy(),
            rgb=self.ale.getScreenRGB(),
            repeats=tuple(r.state() for r in self.repeats) if self.repeats is not None else (),
            steps=self.steps,
        )

    def _screen_pointer(self) -> Any:
        return self._screen_pointers[0 if self.frame is self._screens.pair[0] else 1]

    def check(self, joint_actions: Sequence[int]) -> None:
        """ValueError, saying what is wrong, unless ``joint_actions`` is one action index per
        seat within the game's actions."""
        if len(joint_actions) != self.seats:
            raise ValueError(
                f"{self.game.name} takes one action per seat: {self.seats} actions, "
                f"not {len(joint_actions)}"
            )
        for seat, action in enumerate(joint_actions):
            if isinstance(action, bool) or not isinstance(action, int | np.integer):
                raise ValueError(f"seat {seat}'s action must be an action index, not {action!r}")
            if not 0 <= action < self._n_actions:
                raise ValueError(
                    f"seat {seat}'s action {action} is not one of {self.game.name}'s "
                    f"{self._n_actions} actions (0 to {self._n_actions - 1})"
                )

    def step(self, joint_actions: Sequence[int]) -> MultiOutcome:
        previous = self.frame
        outcome = self.advance(joint_actions)
        self.diff, self.changed = self._screens.difference(self.frame, previous)
        return outcome

    def advance(self, joint_actions: Sequence[int]) -> MultiOutcome:
        """``step`` without the difference from the frame before, which replay does not need
        (it compares whole frames)."""
        self.check(joint_actions)
        ale = self.ale
        ale_actions = self.actions
        # Through the buffers' ctypes views with Python ints: numpy's zeros, fancy indexing and
        # += cost more than a two-seat step's arithmetic (advance: 7.2 µs instead of 8.6).
        joint, frame_rewards = self._joint_pointer, self._rewards_pointer
        rewards = [0] * self.seats
        applied: list[list[int]] | None = None
        if self.repeats is None:
            joint[:] = [ale_actions[action] for action in joint_actions]
            for _ in range(self.frameskip):
                ale_lib.actMulti(ale.obj, joint, frame_rewards)
                rewards = [
                    total + reward for total, reward in zip(rewards, frame_rewards, strict=True)
                ]
        else:
            applied = []
            for _ in range(self.frameskip):
                frame_actions = [
                    r.applied(int(a)) for r, a in zip(self.repeats, joint_actions, strict=True)
                ]
                applied.append(frame_actions)
                joint[:] = [ale_actions[index] for index in frame_actions]
                ale_lib.actMulti(ale.obj, joint, frame_rewards)
                rewards = [
                    total + reward for total, reward in zip(rewards, frame_rewards, strict=True)
                ]
        self.frame = self._screens.other(self.frame)
        ale_lib.getScreen(ale.obj, self._screen_pointer())
        self.diff = self.changed = None
        self.steps += 1
        ale_lib.lives(ale.obj, self._lives_pointer)
        lives = self._lives_pointer[:]
        info: dict[str, Any] = {"lives": lives}
        if applied is not None:
            info["applied"] = applied  # per frame, each seat's applied action index
        return MultiOutcome(
            rewards=[float(reward) for reward in rewards],
            terminated=bool(ale.game_over()),
            truncated=self.steps >= self.max_steps,
            lives=lives,
            info=info,
        )

    def new_colours(self) -> list[int]:
        """After a step: palette indices first seen in the current frame.

        Call it after every step: only pixels that changed since the frame before are checked.
        """
        assert self.palette is not None
        if self.diff is not None and not self.palette.has_unknown(
            self.frame, self.diff, self.changed
        ):
            return []
        return self.palette.learn(self.frame, self.ale.getScreenRGB())

    def rgb(self) -> np.ndarray:
        """The screen now in RGB (H, W, 3), a copy."""
        return np.asarray(self.ale.getScreenRGB(), np.uint8)

    def ram(self) -> np.ndarray:
        """The console's 128 bytes of RAM, a copy."""
        return np.asarray(self.ale.getRAM(), np.uint8).copy()

    def freeze(self) -> bytes:
        """Everything needed to go on with this episode in another process (``thaw``)."""
        return pickle.dumps((self.snapshot(), self.palette))

    def thaw(self, frozen: bytes) -> None:
        """Continue the episode ``frozen`` was taken of, exactly where it was."""
        snapshot, palette = pickle.loads(frozen)
        if bool(snapshot.repeats) != (self.repeats is not None):
            raise ValueError(
                "the game was frozen with other sticky actions than this machine's: "
                "thaw it in a machine made with the episode's repeat_action_probability"
            )
        self._go_to(snapshot)  # (restore would learn a palette only to drop it: ~0.5 ms)
        self.palette = palette  # every colour the episode has shown, as the recording has them

    def close(self) -> None:
        # The interface frees its emulator when it is collected (its __del__), so dropping
        # the one reference frees it now; a closed machine cannot be stepped.
        self.ale = None


_helper_machines: dict[str, MultiAtariMachine] = {}


def multi_start_state(game: str, seed: int) -> bytes:
    """Run in a helper process: the state right after ``start(seed, None)``, for ``start``."""
    machine = _helper_machine(game)
    machine.start(seed, None)
    return machine.snapshot().to_bytes()


def multi_shared_start(game: str, seeds: Sequence[int]) -> bytes | None:
    """Run in a helper process: the start state every seed of ``game`` shares, as
    ``multi_start_state`` makes it, or None when the start depends on the seed (compared as
    ``machines.atari_shared_start`` does: the emulator's state without its RNG, and the
    screen)."""
    machine = _helper_machine(game)
    starts = set()
    for seed in seeds:
        machine.start(seed, None)
        state = machine.ale.cloneState()  # the emulator's, without the RNG (cloneSystemState's)
        try:
            encoded = bytes(machine.ale.encodeState(state))
        finally:
            machine.ale.deleteState(state)
        starts.add((encoded, machine.frame.tobytes()))
    if len(starts) > 1:
        return None
    return machine.snapshot().to_bytes()


def _helper_machine(game: str) -> MultiAtariMachine:
    """The helper process's machine of a game, made once: sticky actions, frameskip and
    max_steps do not change the start, so one machine serves every start of it."""
    machine = _helper_machines.get(game)
    if machine is None:
        machine = _helper_machines[game] = MultiAtariMachine(game)
    return machine
