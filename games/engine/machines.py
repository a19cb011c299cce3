"""Emulators the live loop steps: a fast path for ALE games and a generic Gymnasium path.

Creating an ALE environment (``loadROM``) costs ~85 ms and holds the GIL throughout, so a
thread does not keep the event loop free. Instead each web process keeps a pool of idle
machines per game, and a new episode's seeded start state is made in a helper *process*
(``atari_start_state``) and restored into a pooled machine in ~0.1 ms. Restoring is bit-exact:
the episode plays exactly as ``gym.make(env_id, **kwargs).reset(seed=seed)`` would, which is
what replay verification relies on (games/engine/replay.py).

Sticky actions (``repeat_action_probability`` p) are applied here, not by ALE: ALE draws
them from its own RNG and repeats its last action, which its saved state does not hold, so an
ALE-sticky game could not be checkpointed, verified while played or moved to another
process. ``AtariMachine`` runs ALE with p = 0 and, on each frame, repeats the action of the
frame before with probability p, exactly ALE's rule, drawing from an RNG seeded with the
episode's seed; the last action and that RNG travel with every snapshot. Each step's ``info``
then says which action each of its frames applied (``applied``).
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import gymnasium as gym
import numpy as np

from . import codec

# Palette and Repeats live in modules of their own (the multi-seat machine shares them); they
# stay importable from here, and pickles that name them here still load.
from .palette import Palette
from .registry import is_atari, is_board, is_multi_seat, multi_seat_name, register_all
from .screens import Screens
from .sticky import Repeats

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # (typing's own from Python 3.13)

    from .boards import BoardMachine
    from .multiplayer import MultiAtariMachine, MultiMachine

PIXELS_INDEXED = "indexed"
# Recorded in each episode's versions: who draws its sticky actions (the module's docstring).
STICKY_ACTIONS = "arcade"
PIXELS_RGB = "rgb"


SeatFill = Literal["human", "policy", "human_or_policy"]
OnLeave = Literal["ai", "abandon", "end"]


@dataclass(frozen=True)
class SeatConfig:
    """Who may fill one player slot of a game, and how a person there plays it."""

    index: int  # 0: the first player
    role: str = ""  # who the seat is on the screen: "the orange paddle, on the left"
    instructions: str = ""  # shown to the person in this seat
    key_map: dict[str, Any] = field(default_factory=dict)  # empty: the game's key map
    fill: SeatFill = "human"  # human_or_policy: a person, else the policy after human_timeout
    policy_id: int | None = None  # games.Policy: the AI that fills (or takes over) the seat
    human_timeout: float = 30.0  # s the waiting room waits for a person (human_or_policy)


@dataclass(frozen=True)
class GameConfig:
    slug: str
    title: str
    env_id: str
    env_kwargs: dict[str, Any]
    fps: int
    turn_based: bool
    key_map: dict[str, Any]
    default_action: int
    max_steps: int
    n_actions: int
    pauses_when_hidden: bool = False  # the player may pause play while the tab is hidden
    two_sided_score: bool = False  # the return is the player's points minus the opponent's
    # The player slots; empty: one seat, a person (every single-player game).
    seats: tuple[SeatConfig, ...] = ()
    # A person leaving mid-game: the seat's policy takes over after the reconnect grace (ai),
    # the game ends abandoned after the grace (abandon), or it ends at once for all (end).
    on_leave: OnLeave = "ai"
    # s the waiting room counts down once every seat is filled, before the first step.
    start_countdown: float = 3.0

    @property
    def multi_seat(self) -> bool:
        """Whether the game is a ``MultiAtariMachine``'s (``build_machine``)."""
        return is_multi_seat(self.env_id)

    @property
    def pool_key(self) -> str:
        return f"{self.env_id}|{sorted(self.env_kwargs.items())!r}"


@dataclass(slots=True)
class Outcome:
    reward: float
    terminated: bool
    truncated: bool
    lives: int
    info: dict[str, Any] = field(default_factory=dict)


class Machine(Protocol):
    pixel_format: str
    frame: np.ndarray  # the current frame; overwritten by the next step, copy it to keep it
    diff: np.ndarray | None  # frame XOR the frame before; None right after start
    changed: np.ndarray | None  # indices of the 8-byte words of diff that are not 0
    palette: Palette | None
    action_meanings: list[str]

    def start(self, seed: int, state: bytes | None) -> list[int]:
        """Put the machine at the start of an episode; return newly learned palette indices."""

    def step(self, action: int) -> Outcome: ...

    def new_colours(self) -> list[int]:
        """After a step: palette indices first seen in the current frame (indexed only).

        Call it after every step: only pixels that changed since the frame before are checked.
        """

    def freeze(self) -> bytes:
        """Everything needed to go on with this episode in another process (``thaw``);
        ValueError when the machine cannot promise to go on exactly."""

    def thaw(self, frozen: bytes) -> None:
        """Continue the episode ``frozen`` was taken of, exactly where it was."""

    def close(self) -> None: ...


def make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    """The env a machine steps: for ALE games with ALE's own sticky actions off (the machine
    applies them, see the module's docstring)."""
    register_all()
    if is_atari(env_id):
        return gym.make(env_id, **{**env_kwargs, "repeat_action_probability": 0.0})
    return gym.make(env_id, render_mode="rgb_array", **env_kwargs)


def sticky_probability(env_id: str, env_kwargs: dict[str, Any]) -> float:
    """The ``repeat_action_probability`` the env would have: from the kwargs, else its
    registration's, else ale-py's default (0.25; the v5 envs are sticky)."""
    register_all()
    if "repeat_action_probability" in env_kwargs:
        return float(env_kwargs["repeat_action_probability"])
    registered = gym.spec(env_id).kwargs
    if "repeat_action_probability" in registered:
        return float(registered["repeat_action_probability"])
    from ale_py.env import AtariEnv

    default = inspect.signature(AtariEnv).parameters["repeat_action_probability"].default
    return float(default)


def atari_start_state(env_id: str, env_kwargs: dict[str, Any], seed: int) -> bytes:
    """Run in a helper process: the ALE state right after ``reset(seed=seed)``, pickled.

    The screen travels with it: ``restoreState`` restores the emulator but not the screen
    buffer, which would otherwise still show the machine's previous episode.
    """
    env = _helper_env(env_id, env_kwargs)
    env.reset(seed=seed)
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    return pickle.dumps(ale_snapshot(ale, ale.getScreen()))


def atari_shared_start(
    env_id: str, env_kwargs: dict[str, Any], seeds: Sequence[int]
) -> bytes | None:
    """Run in a helper process: the start state every seed of this game shares, as
    ``atari_start_state`` makes it, or None when the start depends on the seed.

    ALE's own sticky actions are off (the machine draws its own from the seed), so the only
    way a seed reaches the emulation is the noise Stella puts in the RAM at power-on. Most
    games clear their RAM before their first frame, and then every seed starts the same
    emulator state: one state, restored in ~0.1 ms, starts every episode, instead of a ROM
    loaded with each seed (~100 ms of CPU). Told by comparing ``seeds``' states without
    their RNG (which nothing reads with ALE's sticky actions off) and their screens; replay
    verification, which resets with the episode's own seed, checks it again on every episode.
    """
    env = _helper_env(env_id, env_kwargs)
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    starts = set()
    for seed in seeds:
        env.reset(seed=seed)
        starts.add((pickle.dumps(ale.cloneState(include_rng=False)), ale.getScreen().tobytes()))
    if len(starts) > 1:
        return None
    return pickle.dumps(ale_snapshot(ale, ale.getScreen()))


def _helper_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    """The helper process's env of a game, made once."""
    key = (env_id, repr(sorted(env_kwargs.items())))
    env = _helper_envs.get(key)
    if env is None:
        env = _helper_envs[key] = make_env(env_id, env_kwargs)
    return env


def ale_snapshot(ale: Any, screen: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """Everything that puts an ALE machine back at this point: state (with the RNG, so sticky
    actions repeat the same way), palette-index screen and RGB screen, which ``restoreState``
    does not restore."""
    return ale.cloneState(include_rng=True), screen.copy(), ale.getScreenRGB()


_helper_envs: dict[tuple[str, str], gym.Env[Any, Any]] = {}


class AtariMachine:
    """Steps ALE directly with the exact semantics of ale-py's AtariEnv.step, minus its copies.

    AtariEnv.step converts every frame to RGB; we read palette indices (one byte a pixel)
    straight into a reused buffer, which is what the codec and the recorder want.
    """

    pixel_format = PIXELS_INDEXED

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        self.env = make_env(env_id, env_kwargs)
        unwrapped: Any = self.env.unwrapped
        self.ale = unwrapped.ale
        self.action_set = list(unwrapped._action_set)
        self.action_meanings: list[str] = unwrapped.get_action_meanings()
        frameskip = env_kwargs.get("frameskip", unwrapped._frameskip)
        if not isinstance(frameskip, int):
            raise ValueError("Live play needs an integer frameskip (stochastic is not replayable).")
        self.frameskip = frameskip
        self.sticky = sticky_probability(env_id, env_kwargs)
        # Sticky actions are ours (make_env turned ALE's off); None when the game has none.
        self.repeats = Repeats(self.sticky) if self.sticky > 0 else None
        height, width = self.ale.getScreenDims()
        self._screens = Screens(height, width)
        self.frame = self._screens.pair[0]
        self.diff: np.ndarray | None = None
        self.changed: np.ndarray | None = None
        self.palette: Palette | None = Palette()

    def start(self, seed: int, state: bytes | None) -> list[int]:
        # Each episode learns its palette afresh: its recording must name every colour it shows,
        # not only those this (pooled) machine had not seen in an earlier episode.
        self.palette = Palette()
        self.diff = self.changed = None
        if self.repeats is not None:
            self.repeats.start(seed)
        if state is None:
            self.env.reset(seed=seed)
            self.ale.getScreen(self.frame)
            return self.palette.learn(self.frame, self.ale.getScreenRGB())
        return self.restore(*pickle.loads(state))

    def restore(
        self, ale_state: Any, screen: np.ndarray, rgb: np.ndarray, repeats: bytes | None = None
    ) -> list[int]:
        """Continue from an ``ale_snapshot`` (and, for sticky games, ``Repeats.state()``; a
        start state has none: ``start`` has seeded them); return the palette indices of the
        frame, which the palette now knows alone (``thaw`` then restores the episode's).
        """
        self.palette = Palette()
        self.diff = self.changed = None
        self.ale.restoreState(ale_state)
        np.copyto(self.frame, screen)
        if repeats is not None and self.repeats is not None:
            self.repeats.set_state(repeats)
        return self.palette.learn(self.frame, rgb)

    def snapshot(self) -> tuple[Any, np.ndarray, np.ndarray, bytes | None]:
        """The machine now, for ``restore`` (replay verification resumes from it)."""
        repeats = self.repeats.state() if self.repeats is not None else None
        return (*ale_snapshot(self.ale, self.frame), repeats)

    def step(self, action: int) -> Outcome:
        previous = self.frame
        outcome = self.advance(action)
        self.diff, self.changed = self._screens.difference(self.frame, previous)
        return outcome

    def advance(self, action: int) -> Outcome:
        """``step`` without the difference from the frame before, which replay does not need
        (it compares whole frames): the same emulation, a quarter cheaper."""
        ale = self.ale
        reward = 0.0
        repeats = self.repeats
        applied: list[int] | None = None
        if repeats is None:
            ale_action = self.action_set[action]
            for _ in range(self.frameskip):
                reward += ale.act(ale_action, 1.0)
        else:
            applied = [repeats.applied(action) for _ in range(self.frameskip)]
            for index in applied:
                reward += ale.act(self.action_set[index], 1.0)
        self.frame = self._screens.other(self.frame)
        ale.getScreen(self.frame)
        self.diff = self.changed = None
        lives = ale.lives()
        info: dict[str, Any] = {"lives": lives}
        if applied is not None:
            info["applied"] = applied
        return Outcome(
            reward=float(reward),
            terminated=ale.game_over(with_truncation=False),
            truncated=ale.game_truncated(),
            lives=lives,
            info=info,
        )

    def new_colours(self) -> list[int]:
        assert self.palette is not None
        if self.diff is not None and not self.palette.has_unknown(
            self.frame, self.diff, self.changed
        ):
            return []
        return self.palette.learn(self.frame, self.ale.getScreenRGB())

    def ram(self) -> np.ndarray:
        """The console's 128 bytes of RAM now."""
        return np.asarray(self.ale.getRAM())

    def freeze(self) -> bytes:
        return pickle.dumps((self.snapshot(), self.palette))

    def thaw(self, frozen: bytes) -> None:
        snapshot, palette = pickle.loads(frozen)
        self.restore(*snapshot)
        self.palette = palette  # every colour the episode has shown, as the recording has them

    def close(self) -> None:
        self.env.close()


def _plain(value: Any) -> Any:
    """Info values made JSON-safe (numpy scalars and arrays become Python values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else None
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return repr(value)


class GymMachine:
    """Any Gymnasium env with a Discrete action space that renders ``rgb_array``."""

    pixel_format = PIXELS_RGB
    palette: Palette | None = None

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        self.env = make_env(env_id, env_kwargs)
        if not isinstance(self.env.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"{env_id} has a {self.env.action_space} action space; needs Discrete."
            )
        meanings = getattr(self.env.unwrapped, "get_action_meanings", None)
        n = int(self.env.action_space.n)
        self.action_meanings = list(meanings()) if meanings else [str(i) for i in range(n)]
        self.frame = np.zeros((0, 0, 3), np.uint8)
        self.diff: np.ndarray | None = None
        self.changed: np.ndarray | None = None

    def _render(self) -> None:
        image = self.env.render()
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("The env must render rgb_array frames of shape (H, W, 3).")
        frame = np.ascontiguousarray(image, dtype=np.uint8)
        same_shape = frame.shape == self.frame.shape
        self.diff = np.bitwise_xor(frame, self.frame) if same_shape else None
        self.changed = codec.changed_words(self.diff) if self.diff is not None else None
        self.frame = frame

    def start(self, seed: int, state: bytes | None) -> list[int]:
        self.env.reset(seed=seed)
        self._render()
        self.diff = self.changed = None
        return []

    def step(self, action: int) -> Outcome:
        _, reward, terminated, truncated, info = self.env.step(action)
        self._render()
        lives = info.get("lives", 0) if isinstance(info, dict) else 0
        return Outcome(
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            lives=int(lives) if isinstance(lives, int | np.integer) else 0,
            info=_plain(info) if isinstance(info, dict) else {},
        )

    def new_colours(self) -> list[int]:
        return []

    def freeze(self) -> bytes:
        # The whole env, wrappers included (the step limit's count goes with it); an env
        # that cannot be pickled cannot move to another process, and says so here.
        return pickle.dumps((self.env, self.frame))

    def thaw(self, frozen: bytes) -> None:
        self.env.close()
        self.env, self.frame = pickle.loads(frozen)
        self.diff = self.changed = None

    def close(self) -> None:
        self.env.close()


# What a pool holds and a match steps: one seat's machine or a multi-seat one (whose ``step``
# takes a joint action); ``GameConfig.multi_seat`` says which.
AnyMachine: TypeAlias = "Machine | MultiMachine"


def is_multi_machine(machine: AnyMachine) -> TypeIs[MultiMachine]:
    """Whether ``machine`` steps a joint action (a multi-seat machine has ``seats``)."""
    return getattr(machine, "seats", None) is not None


def build_machine(config: GameConfig) -> Machine | MultiMachine:
    """A new machine for ``config``'s game: a ``MultiAtariMachine`` for a multi-seat game
    (``multi/<name>``), an ``AtariMachine`` for ALE, a ``GymMachine`` for any other env."""
    if is_multi_seat(config.env_id):
        return build_multi_machine(config)
    if is_atari(config.env_id):
        return AtariMachine(config.env_id, config.env_kwargs)
    return GymMachine(config.env_id, config.env_kwargs)


def build_multi_machine(config: GameConfig) -> MultiAtariMachine | BoardMachine:
    """The machine of a multi-seat game: a ``BoardMachine`` for a board game (its env kwargs:
    max_steps), else a ``MultiAtariMachine``, whose env kwargs are its keyword arguments
    (frameskip, repeat_action_probability, full_action_space, max_steps). The ROM is the
    ale-py wheel's: nothing is downloaded."""
    # Imported here: multi-agent-ale-py loads its emulator library, which a process that
    # plays only one-seat games (a hosted machine's, the seeding helper's) has no use for.
    from .boards import BoardMachine
    from .multiplayer import MultiAtariMachine

    name = multi_seat_name(config.env_id)
    if is_board(config.env_id):
        return BoardMachine(name, **config.env_kwargs)
    return MultiAtariMachine(name, **config.env_kwargs)
