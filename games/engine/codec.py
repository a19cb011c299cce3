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
KEYFRAME_LEVEL = 6  # keyframes are rare (start, recovery): spend time on size
PIXEL_CODES = {"indexed": PIXELS_INDEXED, "rgb": PIXELS_RGB}


def keyframe(frame: np.ndarray) -> bytes:
    """A keyframe payload: the frame itself, deflated."""
    return zlib.compress(frame.data, KEYFRAME_LEVEL)


def delta(diff: np.ndarray) -> bytes:
    """A delta payload: the frame XOR the frame before it (``Machine.diff``), deflated."""
    return zlib.compress(diff.data, LEVEL)


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
