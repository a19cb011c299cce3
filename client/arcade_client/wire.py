"""The messages of Arcade's agent socket, as typed values: requests out, replies in.

No I/O here, so the synchronous and the asyncio client share it and it is tested alone. The
protocol is Arcade's ``docs/agents.md``: JSON text ``{"type": ..., "data": {...}}`` both ways,
except that a session reset with ``"encoding": "binary"`` is sent each observation as one binary
message (``AOB1``, the header's length, the JSON header, the screen's bytes), which spares the
server writing, and the client parsing, a list of 100,800 numbers a step. With
``"encoding": "delta"`` that message's screen is coded against the session's screen before
(``Screens``), so a step of Pong travels as about a hundred bytes.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np

if TYPE_CHECKING:  # typing's Unpack is Python 3.11's; the annotations are never evaluated
    from typing import Unpack

MAGIC = b"AOB1"
_LENGTH = struct.Struct("<I")
ObsType = Literal["rgb", "grayscale", "ram", "palette"]
Encoding = Literal["json", "binary", "delta"]
# Errors the server sends of its own accord, answering no request: they tell why a session or
# the socket ended.
NOTICES = frozenset({"idle_timeout", "token_revoked"})


class ArcadeError(Exception):
    """An error the server answered with (``code`` as in docs/agents.md), or one of the client's
    own: ``bad_reply`` (a reply it cannot read) and ``closed`` (the socket closed)."""

    def __init__(self, code: str, message: str, *, session: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" (session {session!r})" if session else ""))
        self.code = code
        self.message = message
        self.session = session


class SessionOptions(TypedDict, total=False):
    """A session's options, by the names a ``reset`` sends them (docs/agents.md): those that hold
    for every episode of it. One left out, or None, is the server's default (Arcade's: ``pong``,
    ``rgb``, frameskip 4, no sticky actions, no step limit); ``encoding`` is ``"delta"`` unless
    ``"binary"`` or ``"json"`` is asked for."""

    game_name: str | None
    obs_type: ObsType | None
    frameskip: int | None
    full_action_space: bool | None
    mode: int | None
    difficulty: int | None
    repeat_action_probability: float | None
    max_steps: int | None
    agent_name: str | None
    agent_version: str | None
    encoding: Encoding


class ResetOptions(SessionOptions, total=False):
    """A reset's options: the session's and the episode's ``seed`` (None: the server draws one)."""

    seed: int | None


@dataclass(frozen=True, slots=True)
class Observation:
    """What a reset or a step showed: the screen as an array of its shape, and the step's result.

    ``terminated`` and ``truncated`` are None when the server does not tell them apart (only
    ``done``: the game ended or reached ``max_steps``).
    """

    screen: np.ndarray
    reward: float
    done: bool
    lives: int
    legal_actions: tuple[int, ...]
    episode_frame_number: int
    frame_number: int
    obs_type: str
    terminated: bool | None = None
    truncated: bool | None = None
    session: str = ""
    # The reply's ``data`` as sent, screen left out: fields this client does not know yet.
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class State:
    """A session's ``state``: its episode and the options it was reset with (OpenEnv's fields,
    then Arcade's: ``seed`` is the one in play, drawn by the server when none was sent)."""

    episode_id: str | None
    step_count: int
    game_name: str | None = None
    obs_type: str | None = None
    full_action_space: bool | None = None
    mode: int | None = None
    difficulty: int | None = None
    repeat_action_probability: float | None = None
    frameskip: int | None = None
    seed: int | None = None
    max_steps: int | None = None
    encoding: str | None = None
    done: bool | None = None
    session: str = ""
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


Reply = Observation | State | ArcadeError


@dataclass(frozen=True, slots=True)
class Request:
    """One message to the server, about one session (``""``: the socket's default session)."""

    type: Literal["reset", "step", "state", "close"]
    data: dict[str, Any]
    session: str = ""

    def encode(self) -> str:
        data = {**self.data, "session": self.session} if self.session else self.data
        return json.dumps({"type": self.type, "data": data})

    @property
    def answered(self) -> bool:
        """Whether the server replies to it (a close does not: the session just ends)."""
        return self.type != "close"


def reset(*, session: str = "", **options: Unpack[ResetOptions]) -> Request:
    """A ``reset`` with ``options`` (``ResetOptions``); a name this client does not know yet is
    sent as it is, for the server to check."""
    data: dict[str, Any] = {name: value for name, value in options.items() if value is not None}
    encoding = data.pop("encoding", "delta")
    if encoding != "json":  # JSON is the server's default: OpenEnv's servers know no other
        data["encoding"] = encoding
    return Request("reset", data, session)


def step(action: int, *, session: str = "") -> Request:
    # int(): an action drawn from a Gymnasium space is a NumPy integer, which JSON refuses.
    return Request("step", {"action_id": int(action)}, session)


def state(*, session: str = "") -> Request:
    return Request("state", {}, session)


def close(*, session: str = "") -> Request:
    return Request("close", {}, session)


def end(session: str) -> Request:
    """The close of one named session, which leaves the socket open (a client's ``end``)."""
    if not session:
        raise ValueError("end() takes a session's name; close() ends the default one.")
    return close(session=session)


def observation_of(reply: Observation | State) -> Observation:
    """The observation a reset or a step is answered with."""
    if not isinstance(reply, Observation):
        raise ArcadeError("bad_reply", f"Expected an observation, got {reply!r}.")
    return reply


def state_of(reply: Observation | State) -> State:
    """The state a ``state`` request is answered with."""
    if not isinstance(reply, State):
        raise ArcadeError("bad_reply", f"A state request was answered {reply!r}.")
    return reply


class Screens:
    """A socket's delta-encoded sessions' screens, each the one its next delta is coded
    against: one a socket, given to ``decode`` with every message read from it."""

    WORD = 8

    def __init__(self) -> None:
        self._last: dict[str, np.ndarray] = {}

    def decoded(
        self, session: str, codec: str, coded: memoryview, shape: tuple[int, ...]
    ) -> np.ndarray:
        """The session's screen from its coded bytes: a ``keyframe`` (the screen, deflated) or
        a ``delta`` (the changed 8-byte words' indices and XOR, deflated), as the platform's
        frame codec writes them (docs/agents.md)."""
        payload = zlib.decompress(coded)
        if codec == "keyframe":
            if len(payload) != math.prod(shape):
                raise ValueError(f"a keyframe of {len(payload)} bytes for a screen of {shape}")
            screen = np.frombuffer(payload, np.uint8).reshape(shape).copy()
        elif codec == "delta":
            base = self._last.pop(session, None)
            if base is None or base.shape != shape:
                raise ValueError(f"a delta for session {session!r}, which has no screen before")
            screen = base.copy()  # the one handed out before is the caller's
            _apply_delta(screen, payload)
        else:
            raise ValueError(f"unknown screen codec {codec!r}")
        self._last[session] = screen
        return screen.copy()

    def forget(self, session: str) -> None:
        self._last.pop(session, None)


def _apply_delta(screen: np.ndarray, payload: bytes) -> None:
    (count,) = _LENGTH.unpack_from(payload)
    words = -(-screen.size // Screens.WORD)
    kind = np.uint16 if words <= 65536 else np.uint32
    width = np.dtype(kind).itemsize
    if _LENGTH.size + count * (width + Screens.WORD) != len(payload):
        raise ValueError("a delta's length does not match its count of words")
    indices = np.frombuffer(payload, kind, count, _LENGTH.size).astype(np.intp)
    values = np.frombuffer(payload, np.uint64, count, _LENGTH.size + count * width)
    if screen.size % Screens.WORD:
        raise ValueError("a delta-encoded screen is a whole number of 8-byte words")
    flat = screen.reshape(-1).view(np.uint64)
    if count and int(indices.max()) >= flat.size:
        raise ValueError("a delta names a word past the end of the screen")
    flat[indices] ^= values


def decode(message: str | bytes, screens: Screens | None = None) -> Reply:
    """A reply from the server; one that cannot be read is an ``ArcadeError("bad_reply")``.
    ``screens``: the socket's, for delta-encoded observations."""
    try:
        if isinstance(message, bytes | bytearray | memoryview):
            return _binary(bytes(message), screens)
        parsed = json.loads(message)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
            raise ValueError("a reply is a JSON object with an object as its data")
        return _reply(parsed["type"], parsed["data"], None)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        return ArcadeError("bad_reply", f"Could not read the server's reply: {exc}.")


def _binary(message: bytes, screens: Screens | None) -> Reply:
    if message[:4] != MAGIC:
        raise ValueError(f"a binary reply starts with {MAGIC!r}, not {message[:4]!r}")
    (length,) = _LENGTH.unpack_from(message, 4)
    end = 8 + length
    if end > len(message):
        raise ValueError("the binary reply is shorter than its header says")
    parsed = json.loads(message[8:end].decode())
    if parsed.get("type") != "observation":
        raise ValueError(f"a binary reply is an observation, not {parsed.get('type')!r}")
    return _reply("observation", parsed["data"], memoryview(message)[end:], screens)


def _reply(
    kind: str, data: dict[str, Any], pixels: memoryview | None, screens: Screens | None = None
) -> Reply:
    session = str(data.get("session") or "")
    if kind == "observation":
        return _observation(data, pixels, session, screens)
    if kind == "state":
        # Each of State's fields as the server named it; a few read with their types.
        told: dict[str, Any] = {f.name: data.get(f.name) for f in fields(State)}
        told.update(step_count=int(data.get("step_count", 0)), session=session, data=data)
        return State(**told)
    if kind == "error":
        return ArcadeError(str(data["code"]), str(data.get("message", "")), session=session)
    raise ValueError(f"unknown reply type {kind!r}")


def _observation(
    data: dict[str, Any], pixels: memoryview | None, session: str, screens: Screens | None
) -> Observation:
    seen = data["observation"]
    shape = tuple(int(n) for n in seen["screen_shape"])
    dtype = np.dtype(seen.get("screen_dtype") or "uint8")
    if pixels is None:
        screen = np.asarray(seen["screen"], dtype=dtype).reshape(shape)
    elif seen.get("screen_codec"):
        if screens is None:
            raise ValueError("a delta-encoded observation, read without the socket's Screens")
        screen = screens.decoded(session, str(seen["screen_codec"]), pixels, shape)
    else:
        if len(pixels) != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"{len(pixels)} bytes of screen for a screen of shape {shape}")
        # A copy, writable: a view of the message would be read-only, which trips up code
        # (and PyTorch) that writes into its observations.
        screen = np.frombuffer(pixels, dtype=dtype).reshape(shape).copy()
    done = bool(data.get("done"))
    terminated, truncated = data.get("terminated"), data.get("truncated")
    if truncated is not None and terminated is None:
        # Arcade's server sends done and truncated: done is the game's end or max_steps'.
        terminated = done and not truncated
    return Observation(
        screen=screen,
        reward=float(data.get("reward") or 0.0),
        done=done,
        lives=int(seen.get("lives", 0)),
        legal_actions=tuple(int(a) for a in seen.get("legal_actions", ())),
        episode_frame_number=int(seen.get("episode_frame_number", 0)),
        frame_number=int(seen.get("frame_number", 0)),
        obs_type=str(seen.get("obs_type", "")),
        terminated=None if terminated is None else bool(terminated),
        truncated=None if truncated is None else bool(truncated),
        session=session,
        data={**data, "observation": {k: v for k, v in seen.items() if k != "screen"}},
    )
