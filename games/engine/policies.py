"""AI players: a policy chooses a seat's action from what it observes of the game.

A policy is told every frame (``act``; or ``see``, then ``later`` when a decision is due, then
``decide``) and decides every ``every_k`` frames, holding its action between, as a
frame-skipping agent does. The split lets a live loop keep inference and preprocessing off its
tick: ``see`` and ``later`` run on the tick and only copy what the policy needs (so the machine
may step on), the later makes the observation and ``decide`` chooses on it, both in a thread
(onnxruntime releases the GIL), and the loop holds the previous action if it is late.
``observe`` does the tick's part and makes the observation at once.

Built in, needing no weights: ``RandomPolicy``, ``PongTracker`` and, for board games,
``BoardPolicy`` (a random legal move, or win if it can and block if it must). ``OnnxPolicy`` runs a
researcher's model and checks it when loaded, so a bad model is an error with a message at
upload, never a crash at play time. No code here downloads anything.
"""

from __future__ import annotations

import hashlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from .observations import POLICY_OBSERVATIONS, Later, Observer, Ready, Screen, observation_shape

NOOP = 0
ATARI_FRAME_SHAPE = (210, 160)


class Policy(Protocol):
    n_actions: int
    every_k: int
    action: int  # the action held until the next decision
    # Decided on the tick itself: a decision of a few microseconds (a RAM read and a compare)
    # costs far less than handing it to a thread (a queue, a wake-up and a GIL switch: about
    # 100 µs of CPU here). Inference is never inline.
    inline: bool

    def reset(self, seed: int) -> None:
        """A new episode: the next frame ``act``, ``see`` or ``observe`` gets is its first."""

    def see(self, screen: Screen) -> bool:
        """Every frame, on the tick: copy what the policy observes of it; whether a decision
        is due now."""

    def later(self, screen: Screen) -> Later:
        """When a decision is due, on the tick: its observation, made when called. Laters are
        called one at a time, in the order they were made."""

    def observe(self, screen: Screen) -> np.ndarray | None:
        """Every frame, on the tick: the observation to decide on when a decision is due
        (a new array), else None."""

    def decide(self, observation: np.ndarray) -> int:
        """The action for an observation ``observe`` returned; touches no per-frame state."""

    def act(self, screen: Screen) -> int:
        """Every frame: observe, decide when due, and return the action to play now."""


class HeldPolicy(ABC):
    """Counts frames, decides every ``every_k`` of them (from the episode's first) and holds."""

    inline = False

    def __init__(self, *, n_actions: int, observation: str | None, every_k: int = 1) -> None:
        if every_k < 1:
            raise ValueError(f"every_k must be 1 or more (got {every_k})")
        if n_actions < 1:
            raise ValueError(f"a policy needs at least one action (got {n_actions})")
        self.n_actions = n_actions
        self.every_k = every_k
        self.observer = Observer(observation) if observation is not None else None
        self.action = NOOP
        self.frames = 0
        self.decisions = 0

    def reset(self, seed: int) -> None:
        self.action = NOOP
        self.frames = 0
        self.decisions = 0
        if self.observer is not None:
            self.observer.reset()

    def see(self, screen: Screen) -> bool:
        if self.observer is not None:
            self.observer.see(screen)
        due = self.frames % self.every_k == 0
        self.frames += 1
        return due

    def later(self, screen: Screen) -> Later:
        if self.observer is None:
            return Ready(np.empty(0, np.uint8))  # nothing to see: the decision is all the policy's
        return self.observer.later(screen)

    def observe(self, screen: Screen) -> np.ndarray | None:
        if not self.see(screen):
            return None
        return self.later(screen)()

    @abstractmethod
    def decide(self, observation: np.ndarray) -> int: ...

    def act(self, screen: Screen) -> int:
        observation = self.observe(screen)
        if observation is not None:
            self.action = self.decide(observation)
            self.decisions += 1
        return self.action


class RandomPolicy(HeldPolicy):
    """Uniformly random actions, the same ones for the same seed."""

    inline = True  # a draw from a generator

    def __init__(self, *, n_actions: int, every_k: int = 1, seed: int = 0) -> None:
        super().__init__(n_actions=n_actions, observation=None, every_k=every_k)
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.rng = np.random.default_rng(seed)

    def decide(self, observation: np.ndarray) -> int:
        return int(self.rng.integers(self.n_actions))


# --- Pong, scripted ------------------------------------------------------------------------

# Pong's RAM (the same in ale-py's single-player game and multi-agent-ale-py's two-player
# modes): the paddles' and the ball's vertical positions share one scale, 0 = no ball in play.
PONG_PADDLE_Y = {"right": 51, "left": 50}  # right: green, the single player / first_0
PONG_BALL_Y = 54
PONG_ACTIONS = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")  # minimal set


class PongTracker(HeldPolicy):
    """Moves its paddle toward the ball, keeping it 4 lines above the ball (RAM scale) so that
    the ball meets it off-centre and leaves at an angle. Measured against Pong's CPU over a
    whole game: 21-0 with this aim, 21-2 aiming straight at the ball, and 8 lines above, rallies
    that do not end (2-0 after 20,000 frames).

    It reads its paddle's and the ball's positions from the RAM. On Pong's knob the joystick's
    RIGHT moves a paddle up (to smaller y) and LEFT down, for either paddle. With no ball in
    play it presses FIRE: two-player Pong waits for the player who received the ball to serve,
    and counts it a point lost after two seconds.
    """

    inline = True  # three bytes of RAM compared

    AIM = -4  # the paddle's y minus the ball's that it steers for
    DEAD_BAND = 2  # no move within this many lines of the aim: no jitter

    def __init__(
        self,
        *,
        side: str = "right",
        action_meanings: Sequence[str] = PONG_ACTIONS,
        every_k: int = 1,
    ) -> None:
        if side not in PONG_PADDLE_Y:
            raise ValueError(f"side must be one of {tuple(PONG_PADDLE_Y)} (got {side!r})")
        missing = {"NOOP", "FIRE", "RIGHT", "LEFT"} - set(action_meanings)
        if missing:
            raise ValueError(f"Pong's tracker needs the actions {sorted(missing)}")
        super().__init__(n_actions=len(action_meanings), observation="ram", every_k=every_k)
        self.side = side
        meanings = list(action_meanings)
        self.up, self.down = meanings.index("RIGHT"), meanings.index("LEFT")
        self.fire, self.still = meanings.index("FIRE"), meanings.index("NOOP")

    def decide(self, observation: np.ndarray) -> int:
        ball = int(observation[PONG_BALL_Y])
        if ball == 0:
            return self.fire
        gap = int(observation[PONG_PADDLE_Y[self.side]]) - (ball + self.AIM)
        if gap > self.DEAD_BAND:
            return self.up
        if gap < -self.DEAD_BAND:
            return self.down
        return self.still


# --- ONNX models ---------------------------------------------------------------------------

# What onnxruntime raises for a file it cannot load or a graph it cannot run.
_ORT_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(ort_errors, name)
    for name in (
        "Fail",
        "InvalidArgument",
        "InvalidGraph",
        "InvalidProtobuf",
        "NoModel",
        "NoSuchFile",
        "NotImplemented",
        "RuntimeException",
        "EngineError",
    )
    if hasattr(ort_errors, name)
)
# The input types a policy feeds: the observation's bytes, or the same values as float32
# (unscaled: a model that wants 0..1 divides by 255 itself, so its file says what it expects).
_INPUT_TYPES: dict[str, type[np.generic]] = {
    "tensor(uint8)": np.uint8,
    "tensor(float)": np.float32,
}
_TYPE_NAMES = {"tensor(uint8)": "uint8", "tensor(float)": "float32"}


def _dims(shape: Sequence[Any]) -> str:
    if len(shape) == 0:
        return "a scalar"
    return "x".join(str(d) if isinstance(d, int) else f"{d or '?'}" for d in shape)


def _matches(model: Sequence[Any], spec: tuple[int, ...]) -> bool:
    """A model's input dims fit the spec's shape; a named (symbolic) dim fits any size."""
    return len(model) == len(spec) and all(
        not isinstance(m, int) or m == s for m, s in zip(model, spec, strict=True)
    )


def session_options(threads: int = 1) -> ort.SessionOptions:
    """One intra-op thread by default: many policies share a server's cores, one each."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise
    return options


class _Bound(NamedTuple):
    """An ``OnnxPolicy``'s one-decision run, bound to its arrays (``_bind``)."""

    binding: ort.IOBinding
    observation: np.ndarray
    scores: np.ndarray


class OnnxPolicy(HeldPolicy):
    """A researcher's model: observation in, one score per action out; it plays the argmax.

    The model takes one input, the observation of its spec (``observation_shape``), with or
    without a leading batch dimension of 1 (or a named one), as uint8 or as float32 of the same
    0..255 values. Its first output holds one score (logit, Q-value) per action of the game.
    Loading checks all of that and runs one inference on a blank observation; any mismatch is
    a ValueError that says what the model has and what the spec needs.

    Policies loaded from the same bytes share one session (onnxruntime's ``run`` is
    thread-safe): one copy of the weights per process, and a model with a named batch
    dimension (``batch_key``) decides for several seats in one run (``decide_many``).
    """

    def __init__(
        self,
        model: bytes | str | Path,
        *,
        observation: str,
        n_actions: int,
        frame_shape: tuple[int, int] = ATARI_FRAME_SHAPE,
        every_k: int = 1,
        threads: int = 1,
    ) -> None:
        if observation not in POLICY_OBSERVATIONS:
            raise ValueError(
                f"unknown observation spec {observation!r}: use one of {POLICY_OBSERVATIONS}"
            )
        super().__init__(n_actions=n_actions, observation=observation, every_k=every_k)
        self.spec_shape = observation_shape(observation, frame_shape)
        self.session = _load(model, threads)
        self.input_name, self.input_shape, self.input_dtype = self._check_input(observation)
        self.output_name = self.session.get_outputs()[0].name
        self._bound = self._bind(self._check_output())
        # Policies that may decide in one run together: the same session, a named batch.
        self.batch_key: object | None = self.session if self._batches() else None

    def _check_input(self, spec: str) -> tuple[str, tuple[int, ...], type[np.generic]]:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ValueError(
                f"the model has {len(inputs)} inputs ({names}); a policy's model takes one, "
                "the observation"
            )
        model_input = inputs[0]
        dims = list(model_input.shape)
        wanted = f"the spec {spec!r} gives {_dims(self.spec_shape)} uint8"
        if model_input.type not in _INPUT_TYPES:
            raise ValueError(
                f"the model's input is {model_input.type}; {wanted}: export the model with a "
                "uint8 or float32 input (float32 gets the same 0..255 values)"
            )
        described = f"the model's input is {_dims(dims)} {_TYPE_NAMES[model_input.type]}"
        batch = len(dims) == len(self.spec_shape) + 1 and _matches(dims[1:], self.spec_shape)
        if _matches(dims, self.spec_shape):
            shape = self.spec_shape
        elif batch and (dims[0] == 1 or not isinstance(dims[0], int)):
            shape = (1, *self.spec_shape)
        elif batch:
            raise ValueError(f"{described}, {wanted}: make its batch 1 (or named)")
        else:
            raise ValueError(f"{described}, {wanted}")
        return model_input.name, shape, _INPUT_TYPES[model_input.type]

    def _check_output(self) -> np.ndarray:
        """The scores of a blank observation, checked to be one number per action."""
        blank = np.zeros(self.input_shape, self.input_dtype)
        try:
            scores = self._run(blank)
        except _ORT_ERRORS as error:
            raise ValueError(
                f"the model failed its test inference on a blank observation: {error}"
            ) from error
        if not np.issubdtype(scores.dtype, np.number):
            raise ValueError(f"the model's first output is {scores.dtype}, not numbers")
        if scores.size != self.n_actions:
            raise ValueError(
                f"the model gives {scores.size} outputs for an observation (shape "
                f"{_dims(scores.shape)}); the game has {self.n_actions} actions: its last layer "
                "needs one output per action"
            )
        return scores

    def _bind(self, scores: np.ndarray) -> _Bound | None:
        """The input and first output of one decision bound once to arrays of this policy's:
        a decision copies its observation in and reads the scores out, without ``run``'s
        conversions each call (with the caches cold, as between a live seat's decisions, a
        third of a small MLP's 46 µs). None (``run`` then) if the model does not take it."""
        bound = _Bound(
            self.session.io_binding(),
            np.zeros(self.input_shape, self.input_dtype),
            np.zeros(scores.shape, scores.dtype),
        )
        try:
            bound.binding.bind_cpu_input(self.input_name, bound.observation)
            bound.binding.bind_output(
                self.output_name,
                "cpu",
                0,
                bound.scores.dtype,
                list(bound.scores.shape),
                bound.scores.ctypes.data,
            )
            self.session.run_with_iobinding(bound.binding)
        except Exception:  # an ORT error, or an output numpy cannot hold: run it as before
            return None
        return bound

    def _batches(self) -> bool:
        """The input's batch dimension is named, and two observations give two rows of scores
        (a model that would mix them is run one observation at a time)."""
        dims = self.session.get_inputs()[0].shape
        if len(dims) != len(self.spec_shape) + 1 or isinstance(dims[0], int):
            return False
        try:
            scores = self._run(np.zeros((2, *self.spec_shape), self.input_dtype))
        except _ORT_ERRORS:
            return False
        return scores.shape[0] == 2 and scores.size == 2 * self.n_actions

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run([self.output_name], {self.input_name: batch})[0])

    def decide(self, observation: np.ndarray) -> int:
        """The action for one observation. One decision at a time a policy (a seat's
        ``Decider`` makes sure): the bound arrays are the policy's."""
        bound = self._bound
        if bound is None:
            batch = observation.reshape(self.input_shape).astype(self.input_dtype, copy=False)
            return int(np.argmax(self._run(batch).reshape(-1)))
        bound.observation[...] = observation.reshape(self.input_shape)
        self.session.run_with_iobinding(bound.binding)
        return int(np.argmax(bound.scores))

    def decide_many(self, observations: Sequence[np.ndarray]) -> list[int]:
        """The actions for several observations (of policies with this ``batch_key``): one
        run when the model has a named batch dimension, else one run each."""
        if self.batch_key is None or len(observations) == 1:
            return [self.decide(observation) for observation in observations]
        batch = np.stack(observations).astype(self.input_dtype, copy=False)
        scores = self._run(batch.reshape(len(observations), *self.input_shape[1:]))
        return [int(action) for action in np.argmax(scores.reshape(len(observations), -1), 1)]


# Sessions by the model's bytes and thread count, while a policy holds them.
_SESSIONS: weakref.WeakValueDictionary[tuple[bytes, int], ort.InferenceSession] = (
    weakref.WeakValueDictionary()
)


def _load(model: bytes | str | Path, threads: int) -> ort.InferenceSession:
    source = str(model) if isinstance(model, Path) else model
    key = (hashlib.sha256(source).digest(), threads) if isinstance(source, bytes) else None
    session = _SESSIONS.get(key) if key is not None else None
    if session is not None:
        return session
    try:
        session = ort.InferenceSession(
            source, sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
    except _ORT_ERRORS as error:
        raise ValueError(f"onnxruntime cannot load this file as an ONNX model: {error}") from error
    if key is not None:
        _SESSIONS[key] = session
    return session


# --- board games -------------------------------------------------------------------------------


class BoardPolicy(HeldPolicy):
    """A seat of a board game (``boards.BoardMachine``): on its turn, a legal move, chosen by
    ``boards.one_ply`` (win if it can, block if it must) or at random; NOOP otherwise.

    It reads the machine's rules where a screen policy reads its frame, and decides on the
    tick (``inline``): a one-ply search of a board is a few milliseconds at most, and the
    turn clock steps the AI's move as soon as it is decided, so it must be ready at once.
    """

    inline = True

    def __init__(self, *, n_actions: int, seat: int, search: bool, seed: int = 0) -> None:
        super().__init__(n_actions=n_actions, observation=None)
        self.seat = seat
        self.search = search
        self.noop = n_actions - 1  # a board game's last action
        self.action = self.noop
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.action = self.noop
        self.rng = np.random.default_rng(seed)

    def later(self, screen: Screen) -> Later:
        from .boards import legal_moves, one_ply  # (boards loads the multi-seat emulator)

        rules = getattr(screen, "rules", None)
        if rules is None:
            raise TypeError("a board game's policy plays a board game's machine only")
        if rules.to_move != self.seat:
            return Ready(np.array([self.noop]))
        if self.search:
            return Ready(np.array([one_ply(rules, self.seat, self.rng)]))
        return Ready(np.array([int(self.rng.choice(legal_moves(rules)))]))

    def decide(self, observation: np.ndarray) -> int:
        return int(observation[0])


# --- by name ---------------------------------------------------------------------------------

BUILT_IN = ("random", "pong-tracker", "board")


def built_in(
    name: str,
    *,
    action_meanings: Sequence[str],
    seat: int = 0,
    every_k: int = 1,
    board: bool = False,
) -> Policy:
    """A policy that needs no weights, for a seat of a game. ``seat`` is the player index:
    in Pong, seat 0 holds the right paddle (the single player, two-player Pong's first_0)
    and seat 1 the left. ``board``: the game is a board game, whose random player picks
    among the legal moves (a random action would mostly be refused) and whose "board"
    player wins if it can and blocks if it must."""
    if board:
        if name not in ("random", "board"):
            raise ValueError(f"a board game is played by the random or board policy, not {name!r}")
        return BoardPolicy(n_actions=len(action_meanings), seat=seat, search=name == "board")
    if name == "board":
        raise ValueError("the board policy plays board games only")
    if name == "random":
        return RandomPolicy(n_actions=len(action_meanings), every_k=every_k)
    if name == "pong-tracker":
        if seat not in (0, 1):
            raise ValueError(f"Pong's tracker plays seat 0 or 1, not {seat}")
        side = "right" if seat == 0 else "left"
        return PongTracker(side=side, action_meanings=action_meanings, every_k=every_k)
    raise ValueError(f"unknown built-in policy {name!r}: use one of {BUILT_IN}")
