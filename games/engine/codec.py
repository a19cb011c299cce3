"""The wire codec: frames XOR-ed against the previous frame, then deflated (zlib, level 1).

Atari frames are palette indices (one byte a pixel), so a typical delta deflates to a few
hundred bytes; keyframes (the frame itself) let a client join or recover. The browser inflates
with the native ``DecompressionStream("deflate")``.
"""

from __future__ import annotations

import zlib

import numpy as np

from arcade.protocol import (
    KIND_DELTA,
    KIND_KEYFRAME,
    PIXELS_INDEXED,
    PIXELS_RGB,
    FrameHeader,
)

LEVEL = 1
PIXEL_CODES = {"indexed": PIXELS_INDEXED, "rgb": PIXELS_RGB}


class FrameEncoder:
    """Encodes one session's frames; remembers the last frame so deltas can be made."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._delta: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = None

    def _remember(self, frame: np.ndarray) -> None:
        if self._prev is None or self._prev.shape != frame.shape:
            self._prev = frame.copy()
            self._delta = np.empty_like(frame)
        else:
            np.copyto(self._prev, frame)

    def keyframe(self, frame: np.ndarray) -> bytes:
        payload = zlib.compress(frame.data, LEVEL)
        self._remember(frame)
        return payload

    def delta(self, frame: np.ndarray) -> bytes:
        """The frame as a delta against the last frame seen (sent or skipped)."""
        if self._prev is None or self._prev.shape != frame.shape or self._delta is None:
            raise ValueError("no previous frame of this shape; send a keyframe")
        np.bitwise_xor(frame, self._prev, out=self._delta)
        payload = zlib.compress(self._delta.data, LEVEL)
        np.copyto(self._prev, frame)
        return payload

    def skip(self, frame: np.ndarray) -> None:
        """A frame that is not sent still becomes the base of the next delta."""
        self._remember(frame)


class FrameDecoder:
    """The client's half, in Python: for tests and the benchmark's sampled checks."""

    def __init__(self) -> None:
        self.frame: np.ndarray | None = None
        self.number = -1

    def decode(self, message: bytes) -> tuple[FrameHeader, np.ndarray]:
        header = FrameHeader.unpack(message)
        raw = np.frombuffer(zlib.decompress(message[32:]), np.uint8)
        channels = 3 if header.pixel_format == PIXELS_RGB else 1
        shape = (
            (header.height, header.width, channels)
            if channels == 3
            else (
                header.height,
                header.width,
            )
        )
        pixels = raw.reshape(shape)
        if header.kind == KIND_KEYFRAME:
            self.frame = pixels.copy()
        elif header.kind == KIND_DELTA:
            if self.frame is None or self.number != header.base_frame:
                raise ValueError(f"delta on frame {header.base_frame}, holding {self.number}")
            self.frame = self.frame ^ pixels
        else:
            raise ValueError(f"unknown frame kind {header.kind}")
        self.number = header.frame
        return header, self.frame
