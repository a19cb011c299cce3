"""The chunk file: many consecutive frames and the steps between them, in one object.

Layout (all little-endian)::

    b"ARCADECH"  u32 format  u32 header_length  header (zstd)  body (zstd)

The header decompresses to two u32 lengths, the fields as UTF-8 JSON, the palette (a 256-bit
mask and the colours) and the per-step columns as typed binary columns
(``recording/stepcolumns.py``; about 3 bytes a step).

The body holds each frame as the 8-byte words that changed since the frame before: their
count per frame, then all the word indices, then all the words' XOR values (columns compress
better than rows). The first frame of a keyframe chunk is stored whole, ahead of them; in other
chunks the first frame's words are against the last frame of the chunk before, so a reader
decodes forward from the nearest keyframe chunk. Formats 2 (whole frames XOR-ed against the
frame before), 3 (the step columns as JSON in the header), 4 (without the held keys and the
frames' send times, read as null) and 5 (without the per-seat columns, read as null) are still
read.
``docs/recording.md`` describes every header field.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import zstandard

from games.engine import codec

from . import stepcolumns
from .stepcolumns import StepColumns

MAGIC = b"ARCADECH"
# 5: format 4 and two step columns, the held keys and when each frame was sent; 6: five more,
# a multi-seat episode's per-seat actions, rewards, input stamps, holders and fresh flags.
FORMAT = 6
READS = (2, 3, 4, 5, 6)
_PREFIX = struct.Struct("<8sII")
_BINARY_LENGTHS = struct.Struct("<II")  # format 4: the lengths of the fields and the palette
ZSTD_LEVEL = 3  # the header
BODY_LEVEL = 9  # the body is small now: a higher level costs well under a millisecond a chunk
KEYFRAME_EVERY = 10  # chunks; bounds how far back a random read must decode
GAPS_CODEC = "sparse-gaps-xor-zstd"  # format 4; format 3 stored the indices ("sparse-xor-zstd")


class ChunkFields(TypedDict):
    """What the recorder puts in a chunk's header; ``encode`` adds the rest (ChunkHeader)."""

    episode: str  # the episode's uuid
    index: int  # the chunk's position in the episode: 0, 1, …
    first_frame: int  # the number of the chunk's first frame
    first_step: int  # and of its first step: the same
    n_steps: int
    final: bool  # the episode's last chunk, which also holds frame T
    pixel_format: str  # "indexed" (palette indices) or "rgb"
    palette: list[list[int]] | None  # [index, r, g, b] of every colour seen so far (indexed)
    steps: StepColumns


class Body(TypedDict):
    """How the chunk's frames are coded."""

    codec: str  # "sparse-gaps-xor-zstd" (format 4 on), "sparse-xor-zstd" (3), "xor-zstd" (2)
    bytes: int  # the body's length
    index_dtype: str  # the changed words' index type, "uint16" or "uint32"; format 2: ""


class ChunkHeader(ChunkFields):
    """A chunk's header as ``read_header`` and ``decode`` give it (docs/recording.md)."""

    keyframe: bool  # the first frame is stored whole, not against the chunk before
    n_frames: int  # n_steps, and one more in the final chunk
    shape: list[int]  # one frame's shape: [210, 160] or [H, W, 3]
    dtype: str  # "uint8"
    body: Body


# Every format from 2 on wrote all these keys. A reader fills only what an older format lacks
# (docs/recording.md): the body's ``index_dtype`` (format 2 stored whole frames: "") and the
# step columns ``keys`` and ``t_sent`` (before format 5: null, in ``stepcolumns``) and the
# per-seat ones (before format 6: null).
HEADER_KEYS = tuple(ChunkHeader.__annotations__)


def _compressor(level: int = ZSTD_LEVEL) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level)


@dataclass
class ChunkData:
    """A chunk before encoding: header fields and its frames, as the recorder keeps them."""

    header: ChunkFields
    shape: tuple[int, ...]
    first: np.ndarray | None  # the first frame whole (a keyframe chunk), else None
    deltas: list[codec.Sparse]  # every other frame's changed words against the frame before

    @property
    def n_frames(self) -> int:
        return len(self.deltas) + (self.first is not None)


def chunk_of(
    header: ChunkFields, frames: np.ndarray, previous_frame: np.ndarray | None
) -> ChunkData:
    """A chunk of whole frames (a keyframe chunk when ``previous_frame`` is None), for tools
    that rewrite stored chunks; the live recorder builds its chunks from changed words."""
    before = [previous_frame] if previous_frame is not None else []
    bases = [*before, *frames[:-1]]
    rest = frames if previous_frame is not None else frames[1:]
    return ChunkData(
        header=header,
        shape=tuple(frames.shape[1:]),
        first=None if previous_frame is not None else frames[0].copy(),
        deltas=[
            codec.sparse(np.bitwise_xor(frame, base))
            for frame, base in zip(rest, bases, strict=True)
        ],
    )


def encode(chunk: ChunkData) -> bytes:
    index_dtype = codec.index_type(math.prod(chunk.shape))
    counts = np.fromiter((i.size for i, _ in chunk.deltas), np.uint32, len(chunk.deltas))
    parts: list[bytes] = [] if chunk.first is None else [chunk.first.tobytes()]
    parts.append(counts.tobytes())
    parts.append(_gaps(chunk.deltas, counts, index_dtype).tobytes())
    parts.extend(w.tobytes() for _, w in chunk.deltas)
    body = _compressor(BODY_LEVEL).compress(b"".join(parts))
    given = chunk.header
    if stepcolumns.n_steps(given["steps"]) != given["n_steps"]:
        raise ValueError(f"the chunk's step columns do not hold its {given['n_steps']} steps")
    steps = stepcolumns.encode(given["steps"])
    palette = given["palette"]
    colours = _encode_palette(palette) if palette is not None else b""
    # The JSON fields: ChunkHeader's keys but the steps, and the palette as "is there one".
    stored: dict[str, Any] = {
        "episode": given["episode"],
        "index": given["index"],
        "first_frame": given["first_frame"],
        "first_step": given["first_step"],
        "n_steps": given["n_steps"],
        "final": given["final"],
        "pixel_format": given["pixel_format"],
        "palette": palette is not None,
        "keyframe": chunk.first is not None,
        "n_frames": chunk.n_frames,
        "shape": list(chunk.shape),
        "dtype": "uint8",
        "body": Body(codec=GAPS_CODEC, bytes=len(body), index_dtype=np.dtype(index_dtype).name),
    }
    fields = json.dumps(stored, separators=(",", ":")).encode()
    binary = _BINARY_LENGTHS.pack(len(fields), len(colours))
    raw = _compressor().compress(binary + fields + colours + steps)
    return _PREFIX.pack(MAGIC, FORMAT, len(raw)) + raw + body


def _gaps(
    deltas: list[codec.Sparse], counts: np.ndarray, index_dtype: type[np.unsignedinteger]
) -> np.ndarray:
    """Every frame's changed word indices as gaps: its first index, then each one minus the one
    before. Changed words come in runs (a sprite, a score), so most gaps are 1: the body
    compresses a quarter to a half smaller than with the indices themselves."""
    if not deltas:
        return np.zeros(0, index_dtype)
    indices = np.concatenate([i for i, _ in deltas]).astype(index_dtype, copy=False)
    gaps = np.diff(indices, prepend=index_dtype(0))  # wraps between frames; fixed next
    starts = (np.cumsum(counts) - counts)[counts > 0]
    gaps[starts] = indices[starts]
    return gaps


def _indices(gaps: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``_gaps`` undone: the running sum of the gaps, restarted at each frame."""
    total = np.cumsum(gaps, dtype=np.int64)
    before = np.concatenate(([0], total))[np.cumsum(counts) - counts]  # sum before each frame
    return total - np.repeat(before, counts)


def _encode_palette(entries: list[list[int]] | None) -> bytes:
    """``[index, r, g, b]`` entries as a 256-bit mask of the indices, then their colours."""
    mask = np.zeros(256, bool)
    colours = np.zeros((256, 3), np.uint8)
    for index, r, g, b in entries or []:
        mask[index] = True
        colours[index] = (r, g, b)
    return np.packbits(mask).tobytes() + colours[mask].tobytes()


def _decode_palette(data: bytes) -> list[list[int]]:
    if len(data) < 32:
        raise ValueError("the chunk's palette is cut short")
    indices = np.flatnonzero(np.unpackbits(np.frombuffer(data[:32], np.uint8)))
    if len(data) != 32 + 3 * indices.size:
        raise ValueError("the chunk's palette has the wrong length")
    colours = np.frombuffer(data[32:], np.uint8).reshape(-1, 3)
    return [[int(i), *map(int, rgb)] for i, rgb in zip(indices, colours, strict=True)]


def read_header(blob: bytes) -> ChunkHeader:
    """The header of a chunk of any format this reader knows, with every key of ChunkHeader."""
    magic, version, length = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError("not an Arcade chunk (bad magic)")
    if version not in READS:
        raise ValueError(f"chunk format {version} is not supported (this reader knows {READS[-1]})")
    try:
        raw = zstandard.ZstdDecompressor().decompress(blob[_PREFIX.size : _PREFIX.size + length])
    except zstandard.ZstdError as exc:
        raise ValueError(f"the chunk header does not decompress: {exc}") from exc
    if version < 4:  # JSON: the palette as a list, the steps as lists
        fields = _fields(raw, binary_steps=False)
        if not isinstance(fields["steps"], dict):
            raise ValueError("the chunk header's steps are not a JSON object")
        steps = stepcolumns.with_missing_columns(fields["steps"], fields["n_steps"])
        return _header(fields, fields["palette"], steps)
    if len(raw) < _BINARY_LENGTHS.size:
        raise ValueError("the chunk header is too short")
    n_fields, n_palette = _BINARY_LENGTHS.unpack_from(raw)
    at = _BINARY_LENGTHS.size
    fields = _fields(raw[at : at + n_fields], binary_steps=True)
    at += n_fields
    colours = raw[at : at + n_palette]
    palette = _decode_palette(colours) if fields["palette"] else None
    steps = stepcolumns.decode(raw[at + n_palette :], fields["n_steps"], version=version)
    return _header(fields, palette, steps)


def _fields(raw: bytes, *, binary_steps: bool) -> dict[str, Any]:
    """The header's JSON fields: every key of ChunkHeader (but ``steps`` when they follow as
    binary columns) must be there, as every format wrote them all: a broken header is
    refused, not guessed at."""
    try:
        fields = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the chunk header's fields are not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise ValueError("the chunk header's fields are not a JSON object")
    missing = [k for k in HEADER_KEYS if k not in fields and not (binary_steps and k == "steps")]
    if missing:
        raise ValueError(f"the chunk header lacks {', '.join(missing)}")
    return fields


def _header(fields: dict[str, Any], palette: Any, steps: StepColumns) -> ChunkHeader:
    body = fields["body"]
    return ChunkHeader(
        episode=fields["episode"],
        index=fields["index"],
        first_frame=fields["first_frame"],
        first_step=fields["first_step"],
        n_steps=fields["n_steps"],
        final=fields["final"],
        pixel_format=fields["pixel_format"],
        palette=palette,
        steps=steps,
        keyframe=fields["keyframe"],
        n_frames=fields["n_frames"],
        shape=fields["shape"],
        dtype=fields["dtype"],
        body=Body(
            codec=body["codec"],
            bytes=body["bytes"],
            index_dtype=body.get("index_dtype", ""),  # format 2 stored no indices
        ),
    )


def header_bytes(blob: bytes) -> int:
    """How many of a chunk's bytes are its header (fields, palette, step columns)."""
    return _PREFIX.size + int(_PREFIX.unpack_from(blob)[2])


def decode(blob: bytes, previous_frame: np.ndarray | None = None) -> tuple[ChunkHeader, np.ndarray]:
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
    header: ChunkHeader, data: bytes, previous_frame: np.ndarray | None
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
    if header["body"]["codec"] == GAPS_CODEC:
        indices = _indices(indices, counts)
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
    header: ChunkHeader, data: bytes, previous_frame: np.ndarray | None
) -> np.ndarray:
    """Format 2: every frame whole, XOR-ed against the frame before."""
    frames = np.frombuffer(data, np.uint8).reshape(header["n_frames"], *header["shape"]).copy()
    if previous_frame is not None and not header["keyframe"]:
        np.bitwise_xor(frames[0], previous_frame, out=frames[0])
    # Frame by frame: ufunc.accumulate over axis 0 is ~30x slower on frame stacks.
    for i in range(1, len(frames)):
        np.bitwise_xor(frames[i], frames[i - 1], out=frames[i])
    return frames
