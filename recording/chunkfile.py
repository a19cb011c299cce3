"""The chunk file: many consecutive frames and the steps between them, in one object.

Layout (all little-endian)::

    b"ARCADECH"  u32 format  u32 header_length  header (zstd of UTF-8 JSON)  body (zstd)

The header carries the per-step columns, which compress about eightfold.

The body holds each frame as the 8-byte words that changed since the frame before: their
count per frame, then all the word indices, then all the words' XOR values (columns compress
better than rows). The first frame of a keyframe chunk is stored whole, ahead of them; in other
chunks the first frame's words are against the last frame of the chunk before, so a reader
decodes forward from the nearest keyframe chunk. Format 2 (whole frames XOR-ed against the
frame before) is still read. ``docs/recording.md`` describes every header field.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from games.engine import codec

MAGIC = b"ARCADECH"
FORMAT = 3
READS = (2, 3)
_PREFIX = struct.Struct("<8sII")
ZSTD_LEVEL = 3  # the header
BODY_LEVEL = 9  # the body is small now: a higher level costs well under a millisecond a chunk
KEYFRAME_EVERY = 10  # chunks; bounds how far back a random read must decode


def _compressor(level: int = ZSTD_LEVEL) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level)


@dataclass
class ChunkData:
    """A chunk before encoding: header fields and its frames, as the recorder keeps them."""

    header: dict[str, Any]
    shape: tuple[int, ...]
    first: np.ndarray | None  # the first frame whole (a keyframe chunk), else None
    deltas: list[codec.Sparse]  # every other frame's changed words against the frame before

    @property
    def n_frames(self) -> int:
        return len(self.deltas) + (self.first is not None)


def encode(chunk: ChunkData) -> bytes:
    index_dtype = codec.index_type(math.prod(chunk.shape))
    counts = np.fromiter((i.size for i, _ in chunk.deltas), np.uint32, len(chunk.deltas))
    parts: list[bytes] = [] if chunk.first is None else [chunk.first.tobytes()]
    parts.append(counts.tobytes())
    parts.extend(i.astype(index_dtype, copy=False).tobytes() for i, _ in chunk.deltas)
    parts.extend(w.tobytes() for _, w in chunk.deltas)
    body = _compressor(BODY_LEVEL).compress(b"".join(parts))
    header = dict(chunk.header)
    header.update(
        keyframe=chunk.first is not None,
        n_frames=chunk.n_frames,
        shape=list(chunk.shape),
        dtype="uint8",
        body={
            "codec": "sparse-xor-zstd",
            "bytes": len(body),
            "index_dtype": np.dtype(index_dtype).name,
        },
    )
    raw = _compressor().compress(json.dumps(header, separators=(",", ":")).encode())
    return _PREFIX.pack(MAGIC, FORMAT, len(raw)) + raw + body


def read_header(blob: bytes) -> dict[str, Any]:
    magic, version, length = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError("not an Arcade chunk (bad magic)")
    if version not in READS:
        raise ValueError(f"chunk format {version} is not supported (this reader knows {READS[-1]})")
    raw = zstandard.ZstdDecompressor().decompress(blob[_PREFIX.size : _PREFIX.size + length])
    header: dict[str, Any] = json.loads(raw)
    return header


def decode(
    blob: bytes, previous_frame: np.ndarray | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Header and frames; a non-keyframe chunk needs the last frame of the chunk before."""
    header = read_header(blob)
    _, version, length = _PREFIX.unpack_from(blob)
    if not header["keyframe"] and previous_frame is None:
        raise ValueError("this chunk continues the one before; pass its last frame")
    data = zstandard.ZstdDecompressor().decompress(blob[_PREFIX.size + length :])
    if version == 2:
        return header, _decode_whole_frames(header, data, previous_frame)
    return header, _decode_sparse(header, data, previous_frame)


def _decode_sparse(
    header: dict[str, Any], data: bytes, previous_frame: np.ndarray | None
) -> np.ndarray:
    shape = tuple(header["shape"])
    n_frames = header["n_frames"]
    frame_bytes = math.prod(shape)
    n_words = -(-frame_bytes // codec.WORD)
    # Whole words per frame (padded when the frame size is not a multiple of 8), viewed as u64.
    out = np.zeros((n_frames, n_words * codec.WORD), np.uint8)
    rows = out.view(np.uint64)
    keyframe = bool(header["keyframe"])
    start = int(keyframe)
    n_deltas = n_frames - start
    index_dtype = np.dtype(header["body"]["index_dtype"])
    offset = frame_bytes * start
    if len(data) < offset + 4 * n_deltas:
        raise ValueError("the chunk body is shorter than its header says")
    counts = np.frombuffer(data, np.uint32, n_deltas, offset)
    offset += counts.nbytes
    total = int(counts.sum())
    expected = offset + total * (index_dtype.itemsize + codec.WORD)
    if len(data) != expected:
        longer = len(data) > expected
        raise ValueError(
            f"the chunk body is {'longer' if longer else 'shorter'} than its header says"
        )
    indices = np.frombuffer(data, index_dtype, total, offset)
    values = np.frombuffer(data, np.uint64, total, offset + indices.nbytes)
    if total and int(indices.max()) >= n_words:
        raise ValueError("the chunk body names a word past the end of the frame")
    if keyframe:
        out[0, :frame_bytes] = np.frombuffer(data, np.uint8, frame_bytes)
        previous = rows[0]
    else:
        assert previous_frame is not None
        base = np.zeros(n_words * codec.WORD, np.uint8)
        base[:frame_bytes] = previous_frame.reshape(-1)
        previous = base.view(np.uint64)
    ends = np.cumsum(counts).tolist()
    begin = 0
    for row, end in zip(rows[start:], ends, strict=True):
        row[:] = previous
        row[indices[begin:end]] ^= values[begin:end]  # indices are distinct within a frame
        begin, previous = end, row
    return out[:, :frame_bytes].reshape(n_frames, *shape)


def _decode_whole_frames(
    header: dict[str, Any], data: bytes, previous_frame: np.ndarray | None
) -> np.ndarray:
    """Format 2: every frame whole, XOR-ed against the frame before."""
    frames = np.frombuffer(data, np.uint8).reshape(header["n_frames"], *header["shape"]).copy()
    if previous_frame is not None and not header["keyframe"]:
        np.bitwise_xor(frames[0], previous_frame, out=frames[0])
    np.bitwise_xor.accumulate(frames, axis=0, out=frames)
    return frames
