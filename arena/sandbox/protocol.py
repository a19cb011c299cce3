"""The messages between a match runner and an agent's sandbox: one JSON object a line.

The parent writes a request on the sandbox's stdin and reads exactly one reply a line on its
stdout. This module is imported on both sides (by ``arena.sandbox.runner`` inside the sandbox,
where only the standard library and the arena's runtime exist), so it uses the standard
library alone.

The runner's first line is ``HELLO``, before it loads the agent: until then, a failure is the
sandbox's (the machine's), not the agent's.

Requests:  ``reset`` (seat, game_info) → ``ready``; ``act`` (observation, action_mask) →
``action``; ``close`` → ``closed``. Any request may instead be answered by ``error``, after
which the runner exits: the agent raised (``crash``), ran out of memory (``memory``), or its
submission is not usable (``load``).
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

# A line longer than this is garbage, not a reply: it would only grow the parent's buffer.
MAX_LINE_BYTES = 1 << 20


class Observation(TypedDict):
    """An array: its dtype (numpy's ``dtype.str``, e.g. "|i1"), its shape, and its bytes in
    C order as base64 (a board or an Atari frame costs a few microseconds, not a JSON list)."""

    dtype: str
    shape: list[int]
    data: str


class ResetRequest(TypedDict):
    type: Literal["reset"]
    seat: int
    game_info: dict[str, Any]


class ActRequest(TypedDict):
    type: Literal["act"]
    observation: Observation
    action_mask: list[int]


class CloseRequest(TypedDict):
    type: Literal["close"]


Request = ResetRequest | ActRequest | CloseRequest


class ReadyReply(TypedDict):
    type: Literal["ready"]


class ActionReply(TypedDict):
    type: Literal["action"]
    action: int


class ClosedReply(TypedDict):
    type: Literal["closed"]


ErrorKind = Literal["crash", "memory", "load"]


class ErrorReply(TypedDict):
    type: Literal["error"]
    kind: ErrorKind
    message: str
    traceback: str


Reply = ReadyReply | ActionReply | ClosedReply | ErrorReply


HELLO = b'{"type":"hello"}\n'


def encode(message: Request | Reply) -> bytes:
    """One message as one line, compact (a step's bytes are the round trip's cost)."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line's JSON object; ValueError for anything else (the reader says whose fault)."""
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("not a JSON object with a string 'type'")
    return message
