"""The chunk file: many consecutive frames and the steps between them, in one object.

Layout (all little-endian)::

    b"ARCADECH"  u32 format  u32 header_length  header (zstd of UTF-8 JSON)  body (zstd)

The header carries the per-step columns, which compress about eightfold.

The body is the chunk's frames, each XOR-ed against the frame before it. The first frame of
a keyframe chunk is stored as is; in other chunks it is XOR-ed against the last frame of the
chunk before, so a reader decodes forward from the nearest keyframe chunk. ``docs/recording.md``
describes every header field.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

MAGIC = b"ARCADECH"
FORMAT = 2
_PREFIX = struct.Struct("<8sII")
ZSTD_LEVEL = 3
KEYFRAME_EVERY = 10  # chunks; bounds how far back a random read must decode


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL)


@dataclass
class ChunkData:
    """A chunk before encoding: header fields and a (n_frames, *shape) uint8 array."""

    header: dict[str, Any]
    frames: np.ndarray
    previous_frame: np.ndarray | None  # base of the first frame; None for a keyframe chunk


def encode(chunk: ChunkData) -> bytes:
    frames = chunk.frames
    deltas = frames.copy()
    np.bitwise_xor(deltas[1:], frames[:-1], out=deltas[1:])
    if chunk.previous_frame is not None:
        np.bitwise_xor(deltas[0], chunk.previous_frame, out=deltas[0])
    body = _compressor().compress(deltas.data)
    header = dict(chunk.header)
    header.update(
        keyframe=chunk.previous_frame is None,
        n_frames=int(frames.shape[0]),
        shape=list(frames.shape[1:]),
        dtype="uint8",
        body={"codec": "xor-zstd", "bytes": len(body)},
    )
    raw = _compressor().compress(json.dumps(header, separators=(",", ":")).encode())
    return _PREFIX.pack(MAGIC, FORMAT, len(raw)) + raw + body


def read_header(blob: bytes) -> dict[str, Any]:
    magic, version, length = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError("not an Arcade chunk (bad magic)")
    if version != FORMAT:
        raise ValueError(f"chunk format {version} is not supported (this reader knows {FORMAT})")
    raw = zstandard.ZstdDecompressor().decompress(blob[_PREFIX.size : _PREFIX.size + length])
    header: dict[str, Any] = json.loads(raw)
    return header


def decode(
    blob: bytes, previous_frame: np.ndarray | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Header and frames; a non-keyframe chunk needs the last frame of the chunk before."""
    header = read_header(blob)
    frames = np.empty((header["n_frames"], *header["shape"]), np.uint8)
    decode_into(blob, frames, previous_frame, header=header)
    return header, frames


def decode_into(
    blob: bytes,
    out: np.ndarray,
    previous_frame: np.ndarray | None = None,
    *,
    header: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decode the chunk's frames into ``out`` (a whole episode's array, sliced): no copy.

    Returns the header; pass it in when it has been read already.
    """
    if header is None:
        header = read_header(blob)
    _, _, length = _PREFIX.unpack_from(blob)
    data = zstandard.ZstdDecompressor().decompress(memoryview(blob)[_PREFIX.size + length :])
    deltas = np.frombuffer(data, np.uint8).reshape(header["n_frames"], *header["shape"])
    if out.shape != deltas.shape:
        raise ValueError(f"chunk holds {deltas.shape} frames, out is {out.shape}")
    np.copyto(out, deltas)
    if not header["keyframe"]:
        if previous_frame is None:
            raise ValueError("this chunk continues the one before; pass its last frame")
        np.bitwise_xor(out[0], previous_frame, out=out[0])
    _xor_forward(out)
    return header


def _xor_forward(frames: np.ndarray) -> None:
    """frames[i] ^= frames[i - 1] for each i in turn, in place.

    ``np.bitwise_xor.accumulate`` over axis 0 does the same some fifteen times slower; a loop
    over whole frames, eight bytes at a time when they divide evenly, runs at memory speed.
    """
    if not frames.flags.c_contiguous:
        np.bitwise_xor.accumulate(frames, axis=0, out=frames)
        return
    rows = frames.reshape(len(frames), -1)  # a view, so the loop writes into frames
    if rows.shape[1] % 8 == 0:
        rows = rows.view(np.uint64)
    for i in range(1, len(rows)):
        np.bitwise_xor(rows[i], rows[i - 1], out=rows[i])
