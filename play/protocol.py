"""The WebSocket protocol between the play page and the server, written down once.

Text messages are JSON objects with a ``type``; frames are binary messages with a fixed
32-byte little-endian header followed by a zlib stream. ``docs/protocol.md`` is the
human-readable copy of this module; keep the two in step.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal, NotRequired, TypedDict

# The frame format is the engine's; the socket protocol sends it, and its users read it here.
from games.engine.frameformat import (  # noqa: F401
    FLAG_EPISODE_OVER,
    FLAG_TERMINATED,
    FLAG_TRUNCATED,
    FRAME_HEADER,
    KIND_DELTA,
    KIND_KEYFRAME,
    PIXELS_INDEXED,
    PIXELS_RGB,
    FrameHeader,
)

PROTOCOL_VERSION = 1

# --- binary frames (server -> client): games/engine/frameformat.py, imported above -------

# --- text messages, client -> server ---------------------------------------------------


class StartMessage(TypedDict):
    """Start a new episode; an active one is ended as restarted first. The new episode shows
    its first frame and waits for ``begin``."""

    type: Literal["start"]


class BeginMessage(TypedDict):
    """The player is ready: step the episode from here (its first step, or after a pause)."""

    type: Literal["begin"]


class PauseMessage(TypedDict):
    """The player's tab is hidden: stop stepping until the next ``begin``."""

    type: Literal["pause"]


class InputMessage(TypedDict):
    """The set of keys held now, sent whenever it changes."""

    type: Literal["input"]
    seq: int  # strictly increasing per socket
    keys: list[str]  # KeyboardEvent.code values, e.g. "ArrowUp", "Space"
    frame: int  # the last frame the client had drawn when the key changed
    t_shown: float  # performance.now() when that frame was drawn, ms
    t_key: float  # performance.now() of the key event, ms
    episode: NotRequired[str]  # when given, must be this socket's running episode
    seat: NotRequired[int]  # when given, must be this socket's seat (multi-seat games)


class AckMessage(TypedDict):
    """The last frame the client decoded; the server sends at most a window ahead of it."""

    type: Literal["ack"]
    frame: int


class KeyframeRequestMessage(TypedDict):
    """The client lost sync (decode error, tab was hidden); the next frame is a keyframe."""

    type: Literal["keyframe"]


class PingMessage(TypedDict):
    type: Literal["ping"]
    t: float


class LeaveMessage(TypedDict):
    """Leave a multi-seat game's waiting room (the place is free for the next player)."""

    type: Literal["leave"]


class ResumeMessage(TypedDict):
    """Go on with an episode paused when this player's socket dropped (instead of ``start``)."""

    type: Literal["resume"]
    episode: str


ClientMessage = (
    StartMessage
    | BeginMessage
    | PauseMessage
    | InputMessage
    | AckMessage
    | KeyframeRequestMessage
    | PingMessage
    | ResumeMessage
    | LeaveMessage
)

# --- text messages, server -> client ---------------------------------------------------


class GameInfo(TypedDict):
    slug: str
    title: str
    fps: int
    turn_based: bool
    width: int
    height: int
    pixel_format: Literal["indexed", "rgb"]
    # Always None: each episode learns its colours afresh, so the ``episode`` message carries
    # the palette (and ``palette`` messages add to it).
    palette: str | None
    keys: list[str]  # the key codes this game listens to
    max_steps: int
    pauses_when_hidden: bool  # the page sends ``pause`` while its tab is hidden
    two_sided_score: bool  # ``points`` messages carry both sides' points


class HelloMessage(TypedDict):
    type: Literal["hello"]
    protocol: int
    game: GameInfo
    ack_every: int
    window: int
    reconnect_grace: int  # seconds a dropped socket's episode waits, paused, for a resume


# Why an episode ended (docs/recording.md, "End reasons").
EndReason = Literal["terminated", "truncated", "abandoned", "restarted", "error"]


class EpisodeMessage(TypedDict):
    type: Literal["episode"]
    episode: str
    seed: int
    width: int
    height: int
    pixel_format: Literal["indexed", "rgb"]
    palette: str | None  # base64 of 256 RGB triples: the colours known so far
    resumed: NotRequired[bool]  # a paused episode going on: frames continue from ``steps``
    steps: NotRequired[int]
    score: NotRequired[float]
    points: NotRequired[list[float]]  # [won, lost]: the rewards' two sides so far
    paused: NotRequired[bool]  # the resumed episode waits for ``begin``
    seat: NotRequired[int | None]  # a game of several seats: this socket's (None: a spectator)


class PaletteMessage(TypedDict):
    """Colours first seen in the next frame; always sent before that frame."""

    type: Literal["palette"]
    entries: list[list[int]]  # [index, r, g, b]


class PointsMessage(TypedDict):
    """Both sides' points of a two-sided score (Pong), sent before the frame that changed them."""

    type: Literal["points"]
    points: list[float]  # [the player's, the opponent's]: sums of positive, negative rewards


class ScoresMessage(TypedDict):
    """Every seat's score of a game of several seats, for a spectator (who holds no seat): sent
    after ``episode`` and before each frame whose step changed a seat's return."""

    type: Literal["scores"]
    returns: list[float]  # each seat's return so far, in seat order
    points: list[float]  # each seat's points won so far, as the screen counts them


class TurnMessage(TypedDict):
    """What a turn-based game's step did (its info's scalars), sent before its frame."""

    type: Literal["turn"]
    frame: int
    info: dict[str, int | float | bool | str]


class EpisodeEndMessage(TypedDict):
    type: Literal["episode_end"]
    episode: str
    reason: EndReason
    steps: int
    score: float


class EpisodeSavedMessage(TypedDict):
    """The workers stored and checked an episode of this player's (it may have ended a while
    ago, or in another tab): complete or incomplete, and its replay verdict."""

    type: Literal["episode_saved"]
    episode: str
    status: str
    verification: str
    steps: int


class PongMessage(TypedDict):
    type: Literal["pong"]
    t: float


class ErrorMessage(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    fatal: NotRequired[bool]


ServerMessage = (
    HelloMessage
    | EpisodeMessage
    | PaletteMessage
    | PointsMessage
    | ScoresMessage
    | TurnMessage
    | EpisodeEndMessage
    | EpisodeSavedMessage
    | PongMessage
    | ErrorMessage
)

# WebSocket close codes (4000-4999 are the application's own)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_FLOOD = 4429
CLOSE_TAKEN_OVER = 4409  # the player's newer tab took this game over: do not reconnect
CLOSE_SERVER_ERROR = 1011

# --- parsing what the client sends -----------------------------------------------------

MAX_TEXT_BYTES = 4096
MAX_KEYS = 16
MAX_KEY_LENGTH = 32
# performance.now() counts milliseconds from the page's load: never negative, and a page open
# for a year is at 3.2e10. Anything outside is a broken or lying client, not a slow one.
MAX_CLIENT_MS = 3.2e10


class ProtocolError(Exception):
    """A client message that cannot be acted on; the session goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _int(msg: dict[str, object], field: str) -> int:
    value = msg.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**32:
        raise ProtocolError("bad_field", f"'{field}' must be a whole number from 0 to 2^32-1.")
    return value


def _ms(msg: dict[str, object], field: str) -> float:
    value = msg.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ProtocolError("bad_field", f"'{field}' must be a time in milliseconds.")
    if not 0 <= value <= MAX_CLIENT_MS:
        raise ProtocolError(
            "bad_field",
            f"'{field}' must be performance.now() of this page: 0 to {MAX_CLIENT_MS:g} ms.",
        )
    return float(value)


def episode_id(value: object) -> str:
    """An episode id as the server writes them (a UUID's canonical form), or ProtocolError.

    Checked before the id goes anywhere: channel-layer group names, database lookups and log
    lines all take it, and each has its own idea of a bad character.
    """
    if isinstance(value, str) and len(value) == 36:
        try:
            if str(uuid.UUID(value)) == value:
                return value
        except ValueError:
            pass
    raise ProtocolError("bad_field", "'episode' must be an episode id, as the server sent it.")


def parse_client_message(text: str | None) -> ClientMessage:
    """Validate one text message from the client, or raise ProtocolError saying what is wrong."""
    if text is None:
        raise ProtocolError("bad_message", "Send JSON text messages; binary input is not accepted.")
    if len(text) > MAX_TEXT_BYTES or len(text.encode()) > MAX_TEXT_BYTES:
        raise ProtocolError("too_large", f"Messages are limited to {MAX_TEXT_BYTES} bytes.")
    try:
        msg = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_message", "The message is not valid JSON.") from None
    except RecursionError:  # "[[[[...]]]]" deeper than the parser's stack: 4 KB is enough
        raise ProtocolError("bad_message", "The message is nested too deeply.") from None
    if not isinstance(msg, dict) or "type" not in msg:
        raise ProtocolError("bad_message", "The message must be a JSON object with a 'type'.")
    kind = msg.get("type")
    if kind == "input":
        keys = msg.get("keys")
        if (
            not isinstance(keys, list)
            or len(keys) > MAX_KEYS
            or not all(isinstance(k, str) and 0 < len(k) <= MAX_KEY_LENGTH for k in keys)
        ):
            raise ProtocolError(
                "bad_field", f"'keys' must be a list of at most {MAX_KEYS} key codes."
            )
        parsed = InputMessage(
            type="input",
            seq=_int(msg, "seq"),
            keys=keys,
            frame=_int(msg, "frame"),
            t_shown=_ms(msg, "t_shown"),
            t_key=_ms(msg, "t_key"),
        )
        if "episode" in msg:
            parsed["episode"] = episode_id(msg["episode"])
        if "seat" in msg:
            parsed["seat"] = _int(msg, "seat")
        return parsed
    if kind == "ack":
        return AckMessage(type="ack", frame=_int(msg, "frame"))
    if kind == "start":
        return StartMessage(type="start")
    if kind == "begin":
        return BeginMessage(type="begin")
    if kind == "pause":
        return PauseMessage(type="pause")
    if kind == "keyframe":
        return KeyframeRequestMessage(type="keyframe")
    if kind == "ping":
        return PingMessage(type="ping", t=_ms(msg, "t"))
    if kind == "resume":
        return ResumeMessage(type="resume", episode=episode_id(msg.get("episode")))
    if kind == "leave":
        return LeaveMessage(type="leave")
    raise ProtocolError(
        "unknown_type",
        f"Unknown message type {str(kind)[:40]!r}; "
        "expected start, begin, pause, resume, leave, input, ack, keyframe or ping.",
    )
