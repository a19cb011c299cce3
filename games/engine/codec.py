"""The wire codec: keyframes, and sparse deltas against the previous frame, deflated (zlib).

A frame is read as 8-byte words. A delta lists only the words that changed, as their indices
and their XOR against the previous frame; between two Atari frames a few dozen of 4,200 words
change, so a delta deflates to under a hundred bytes for most games. Keyframes (the frame
itself) let a client join or recover. The browser inflates with the native
``DecompressionStream("deflate")``; docs/protocol.md gives the layout.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .frameformat import KIND_DELTA, KIND_KEYFRAME, PIXELS_INDEXED, PIXELS_RGB, FrameHeader

LEVEL = 1
KEYFRAME_LEVEL = 6  # keyframes are rare (start, recovery): spend time on size
PIXEL_CODES = {"indexed": PIXELS_INDEXED, "rgb": PIXELS_RGB}


def keyframe(frame: np.ndarray) -> bytes:
    """A keyframe payload: the frame itself, deflated."""
    return zlib.compress(frame.data, KEYFRAME_LEVEL)


WORD = 8
_COUNT = struct.Struct("<I")


def _words(data: np.ndarray) -> np.ndarray:
    """A frame's bytes as 8-byte words, the last one padded with zeros when the size is odd."""
    flat = data.reshape(-1)
    if flat.size % WORD:
        flat = np.concatenate([flat, np.zeros(WORD - flat.size % WORD, np.uint8)])
    return flat.view(np.uint64)


def changed_words(diff: np.ndarray) -> np.ndarray:
    """Indices of the 8-byte words of ``diff`` (a frame XOR the frame before) that are not 0."""
    return _words(diff).nonzero()[0]


def index_type(frame_bytes: int) -> type[np.unsignedinteger]:
    """Word indices are u16 when the frame has at most 65,536 words, else u32."""
    return np.uint16 if -(-frame_bytes // WORD) <= 65536 else np.uint32


Sparse = tuple[np.ndarray, np.ndarray]  # (word indices as index_type, the words' XOR values)


def sparse(diff: np.ndarray, changed: np.ndarray | None = None) -> Sparse:
    """The changed 8-byte words of ``diff``: their indices and values.

    Computed once a step and used twice: the wire delta and the recording are both made of it.
    """
    if changed is None:
        changed = changed_words(diff)
    return changed.astype(index_type(diff.size)), _words(diff)[changed]


def delta(diff: np.ndarray, changed: np.ndarray | None = None) -> bytes:
    """A delta payload: u32 count, the changed words' indices, then those words of ``diff``."""
    return delta_of(sparse(diff, changed))


def delta_of(words: Sparse) -> bytes:
    """The delta payload of words found by ``sparse``."""
    indices, values = words
    return zlib.compress(_COUNT.pack(indices.size) + indices.tobytes() + values.tobytes(), LEVEL)


def apply_delta(frame: np.ndarray, payload: bytes) -> None:
    """XOR an inflated delta payload into ``frame`` (the frame it was made against), in place."""
    (count,) = _COUNT.unpack_from(payload)
    kind = index_type(frame.size)
    width = np.dtype(kind).itemsize
    indices = np.frombuffer(payload, kind, count, _COUNT.size).astype(np.intp)
    values = np.frombuffer(payload, np.uint64, count, _COUNT.size + count * width)
    if _COUNT.size + count * (width + WORD) != len(payload):
        raise ValueError("delta payload length does not match its word count")
    flat = frame.reshape(-1)  # a view: frames are contiguous
    words = _words(flat)  # also a view, unless the size needed padding
    if count and int(indices.max()) >= words.size:
        raise ValueError("delta names a word past the end of the frame")
    words[indices] ^= values  # indices are distinct: each word is XOR-ed once
    if flat.size % WORD:
        flat[:] = words.view(np.uint8)[: flat.size]


class FrameDecoder:
    """The client's half, in Python: for tests and the benchmark's sampled checks."""

    def __init__(self) -> None:
        self.frame: np.ndarray | None = None
        self.number = -1

    def decode(self, message: bytes) -> tuple[FrameHeader, np.ndarray]:
        header = FrameHeader.unpack(message)
        payload = zlib.decompress(message[32:])
        if header.kind == KIND_KEYFRAME:
            shape: tuple[int, ...] = (header.height, header.width)
            if header.pixel_format == PIXELS_RGB:
                shape = (*shape, 3)
            self.frame = np.frombuffer(payload, np.uint8).reshape(shape).copy()
        elif header.kind == KIND_DELTA:
            if self.frame is None or self.number != header.base_frame:
                raise ValueError(f"delta on frame {header.base_frame}, holding {self.number}")
            frame = self.frame.copy()
            apply_delta(frame, payload)
            self.frame = frame
        else:
            raise ValueError(f"unknown frame kind {header.kind}")
        self.number = header.frame
        return header, self.frame
