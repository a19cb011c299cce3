"""The agent API's messages as they travel: JSON text, or an observation as one binary message.

A binary observation (``encoding: "binary"``) is the JSON observation with its screen taken
out and sent as raw bytes after it, so a client reads a 210x160x3 screen as 100,800 bytes
instead of parsing 100,800 numbers:

    b"AOB1" | uint32 little-endian N | N bytes of the observation's JSON | the screen's bytes

The JSON is the JSON encoding's message with ``screen`` null and ``screen_dtype`` "uint8"; the
screen is ``screen_shape`` bytes in C order. ``state`` and ``error`` stay JSON text.

``encoding: "delta"`` is the same message with the screen in the platform's frame codec
(``games/engine/codec.py``, what the browser is sent): the JSON's ``screen_codec`` says
``"keyframe"`` (the screen's bytes, deflated) or ``"delta"`` (its change from the session's
screen before: the 8-byte words that differ, XOR-ed, deflated). A step of Pong changes a few
dozen of its 12,600 words, so a step's message is about a hundred bytes instead of 100,800,
which the server's socket write and the client's read both cost.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import orjson

from games.engine import codec

MAGIC = b"AOB1"
_HEADER = struct.Struct("<4sI")
BINARY_CONTENT_TYPE = "application/x-arcade-observation"


class ErrorData(TypedDict, total=False):
    code: str
    message: str
    session: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What a step (or a reset) showed: OpenEnv's Atari observation, and the screen apart."""

    screen: np.ndarray
    legal: int
    lives: int
    frame: int  # emulator frames since the episode began (steps x frameskip)
    reward: float
    done: bool
    truncated: bool
    obs_type: str
    episode_id: str = ""

    def data(
        self, *, screen: bool = True, session: str = "", session_id: str = ""
    ) -> dict[str, Any]:
        """The message's ``data``: the screen a flat list, or null when it travels as bytes;
        which session it is of (``session`` on a socket, ``session_id`` over HTTP) when named."""
        data: dict[str, Any] = {
            "observation": {
                "screen": self.screen.reshape(-1).tolist() if screen else None,
                "screen_shape": list(self.screen.shape),
                "legal_actions": list(range(self.legal)),
                "lives": self.lives,
                "episode_frame_number": self.frame,
                "frame_number": self.frame,
                "obs_type": self.obs_type,
            },
            "reward": self.reward,
            "done": self.done,
            # Arcade's: the episode reached its max_steps rather than its end (Gymnasium's
            # truncation); done is true too, so OpenEnv's clients stop there as well.
            "truncated": self.truncated,
            "terminated": self.done and not self.truncated,  # the game's own end
            "episode_id": self.episode_id,  # the recorded episode this step is part of
        }
        if not screen:
            data["observation"]["screen_dtype"] = "uint8"
        if session:
            data["session"] = session
        if session_id:
            data["session_id"] = session_id
        return data

    def json(self, *, session: str = "") -> bytes:
        """The JSON observation message, UTF-8 encoded (as a socket sends it)."""
        # orjson writes the screen straight from the array: json.dumps of its 100,800 numbers
        # as a list took ~9 ms a step, most of a JSON step's CPU.
        data = self.data(session=session, screen=False)
        data["observation"]["screen"] = self.screen.reshape(-1)
        del data["observation"]["screen_dtype"]
        return orjson.dumps(
            {"type": "observation", "data": data}, option=orjson.OPT_SERIALIZE_NUMPY
        )

    def binary(self, *, session: str = "", session_id: str = "") -> bytes:
        return b"".join(self.binary_parts(session=session, session_id=session_id))

    def binary_parts(self, *, session: str = "", session_id: str = "") -> tuple[bytes, memoryview]:
        """The binary message as its JSON part and its screen, which a socket sends as they
        are (``FrameWriter.write_parts``) rather than copied into one message."""
        data = self.data(screen=False, session=session, session_id=session_id)
        return _binary_header(data), np.ascontiguousarray(self.screen).reshape(-1).data

    def delta(self, base: np.ndarray | None, *, session: str = "") -> bytes:
        """The binary message with the screen coded against ``base``, the screen this session
        was sent last (None, or one of another shape: a keyframe)."""
        screen = np.ascontiguousarray(self.screen)
        data = self.data(screen=False, session=session)
        if base is None or base.shape != screen.shape:
            data["observation"]["screen_codec"] = "keyframe"
            coded = codec.keyframe(screen)
        else:
            data["observation"]["screen_codec"] = "delta"
            coded = codec.delta(np.bitwise_xor(screen, base))
        return _binary_header(data) + coded


def _binary_header(data: dict[str, Any]) -> bytes:
    """A binary observation's bytes before its screen: ``AOB1``, the JSON's length, the JSON."""
    # orjson: a sixth of json.dumps' time a step
    header = orjson.dumps({"type": "observation", "data": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    return _HEADER.pack(MAGIC, len(header)) + header


def crossing(seen: Observation) -> dict[str, Any]:
    """An observation as it crosses to another process through the post office (JSON)."""
    return {
        "screen": base64.b64encode(np.ascontiguousarray(seen.screen).data).decode(),
        "shape": list(seen.screen.shape),
        "legal": seen.legal,
        "lives": seen.lives,
        "frame": seen.frame,
        "reward": seen.reward,
        "done": seen.done,
        "truncated": seen.truncated,
        "obs_type": seen.obs_type,
        "episode_id": seen.episode_id,
    }


def crossed(raw: dict[str, Any]) -> Observation:
    """The observation ``crossing`` sent."""
    screen = np.frombuffer(base64.b64decode(raw["screen"]), np.uint8).reshape(raw["shape"])
    return Observation(
        screen=screen,
        legal=int(raw["legal"]),
        lives=int(raw["lives"]),
        frame=int(raw["frame"]),
        reward=float(raw["reward"]),
        done=bool(raw["done"]),
        truncated=bool(raw["truncated"]),
        obs_type=str(raw["obs_type"]),
        episode_id=str(raw["episode_id"]),
    )


def read_binary(message: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """A binary observation's message and its screen (what a client does; tests use it)."""
    magic, length = _HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError("not a binary observation (it starts with b'AOB1')")
    start = _HEADER.size
    decoded: dict[str, Any] = json.loads(message[start : start + length])
    shape = decoded["data"]["observation"]["screen_shape"]
    screen = np.frombuffer(message, np.uint8, offset=start + length).reshape(shape)
    return decoded, screen


def error(code: str, message: str, *, session: str = "") -> str:
    data: ErrorData = {"code": code, "message": message}
    if session:
        data["session"] = session
    return json.dumps({"type": "error", "data": data})
