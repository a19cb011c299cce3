"""Minari's Parquet episode file (``data/<id>/part-0.parquet``), written straight from numpy.

Why by hand: Minari's ``ParquetStorage`` gives its Arrow table to pyarrow's Parquet writer,
which stores a uint8 ``Box`` as a LIST of INT32 and widens, levels, encodes and compresses
every pixel on its own. Measured on one core, that writer alone manages about 6,000 frames of
palette indices a second (2,000 of RGB) with the best options it has (no dictionary, zstd or
lz4, no statistics), while a frame's bytes compress with zstd at 170,000 frames a second
(docs/datasets.md, "Speed and size"). A Parquet reader does not care how pages were made, so
this writes the file Minari writes -- same Parquet schema, the same ``ARROW:schema`` (taken
from a file Minari writes itself, see ``minari_layout``), one row group, the same columns in
the same order, the last step padded as Minari pads it -- with one difference in encoding: the
image column is dictionary-encoded against the identity dictionary 0..255 at bit width 8, and
at that width the RLE/bit-packed index stream is the frame's bytes themselves, so a page is a
copy and a compress. The tests read these files with ``minari.load_dataset`` and compare them
with Minari's own, array for array.

What is hand-written is Parquet's container: the Thrift compact encoding of page headers and
the footer (parquet.thrift field numbers are noted where used), a few lines of RLE levels.

Each episode's ``infos`` (Minari's per-step info dicts, T + 1 rows: the reset's, then each
step's) are a struct column of plain fields (int64, float64, bool, string, and fixed-size
lists of int64), laid out as Minari's writer lays out the same dict (``minari_layout`` is
given one of the same shape, and ``check_layout`` compares).
"""

from __future__ import annotations

import json
import math
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset._storages.arrow_storage import NumpyEncoder, ParquetStorage
from minari.dataset.minari_storage import MinariStorage

FILE_NAME = "part-0.parquet"  # what Minari's ds.write_dataset names an episode's file
CODEC = "zstd"  # Minari's are snappy; zstd 1 is as fast here and 30 to 70 times smaller
CODEC_LEVEL = 1
PAGE_BYTES = 1 << 20  # pyarrow's default data page size
CREATED_BY = "arcade exports (Minari's parquet layout, written from numpy)"

# parquet.thrift enums
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_REQUIRED, _OPTIONAL, _REPEATED = 0, 1, 2
_CONVERTED_UTF8, _CONVERTED_LIST, _CONVERTED_UINT_8 = 0, 3, 11
_CODECS = {"none": 0, "snappy": 1, "zstd": 6}

# Thrift compact protocol wire types
_T_TRUE, _T_FALSE, _T_BYTE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 3, 5, 6, 8, 9, 12

# A struct's field: id, wire type, value (None: left out). A bool field is given as _T_TRUE
# with its value; the compact protocol writes it as the wire type TRUE or FALSE.
Field = tuple[int, int, Any]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _value(kind: int, value: Any) -> bytes:
    if kind in (_T_I32, _T_I64):
        return _varint(value << 1 if value >= 0 else (-value << 1) - 1)  # zigzag
    if kind == _T_BYTE:
        return bytes([value & 0xFF])
    if kind == _T_BINARY:
        data = value.encode() if isinstance(value, str) else value
        return _varint(len(data)) + data
    if kind == _T_STRUCT:
        return bytes(value)  # already encoded by _struct
    if kind == _T_LIST:
        element, items = value
        head = bytes([len(items) << 4 | element]) if len(items) < 15 else bytes([0xF0 | element])
        size = b"" if len(items) < 15 else _varint(len(items))
        return head + size + b"".join(_value(element, item) for item in items)
    raise ValueError(f"no Thrift wire type {kind}")


def _struct(fields: list[Field]) -> bytes:
    out = bytearray()
    last = 0
    for number, kind, value in fields:
        if value is None:
            continue
        wire = (_T_TRUE if value else _T_FALSE) if kind == _T_TRUE else kind
        if 0 < number - last <= 15:
            out.append((number - last) << 4 | wire)
        else:
            out.append(wire)
            out += _varint(number << 1)
        last = number
        if kind != _T_TRUE:  # a bool's value is its wire type
            out += _value(kind, value)
    out.append(0)
    return bytes(out)


def _run(count: int, value: int) -> bytes:
    """One RLE run of the RLE/bit-packed hybrid (levels here fit in one byte)."""
    return _varint(count << 1) + bytes([value])


def _levels(runs: bytes) -> bytes:
    """Data page v1 levels: their byte length, then the runs."""
    return struct.pack("<i", len(runs)) + runs


@dataclass
class _Column:
    path: list[str]
    physical: int
    encodings: list[int]
    num_values: int = 0
    uncompressed: int = 0
    compressed: int = 0
    data_offset: int = -1
    dictionary_offset: int | None = None
    start: int = 0

    def metadata(self, codec: int) -> bytes:
        # ColumnMetaData: 1 type, 2 encodings, 3 path_in_schema, 4 codec, 5 num_values,
        # 6 total_uncompressed_size, 7 total_compressed_size, 9 data_page_offset,
        # 11 dictionary_page_offset
        return _struct(
            [
                (1, _T_I32, self.physical),
                (2, _T_LIST, (_T_I32, self.encodings)),
                (3, _T_LIST, (_T_BINARY, self.path)),
                (4, _T_I32, codec),
                (5, _T_I64, self.num_values),
                (6, _T_I64, self.uncompressed),
                (7, _T_I64, self.compressed),
                (9, _T_I64, self.data_offset),
                (11, _T_I64, self.dictionary_offset),
            ]
        )


@dataclass
class _File:
    out: BinaryIO
    codec: str
    level: int | None
    position: int = 0

    def __post_init__(self) -> None:
        self.compressor = None
        if self.codec != "none":
            self.compressor = pa.Codec(self.codec, compression_level=self.level)
        self.write(b"PAR1")

    def write(self, data: bytes | bytearray) -> None:
        self.out.write(data)
        self.position += len(data)

    def page(
        self, column: _Column, kind: int, body: bytes | bytearray, header: Field, values: int
    ) -> None:
        packed = self.compressor.compress(body, asbytes=True) if self.compressor else body
        # PageHeader: 1 type, 2 uncompressed_page_size, 3 compressed_page_size,
        # 5 data_page_header / 7 dictionary_page_header
        head = _struct(
            [(1, _T_I32, kind), (2, _T_I32, len(body)), (3, _T_I32, len(packed)), header]
        )
        if kind == _DICTIONARY_PAGE:
            column.dictionary_offset = self.position
        elif column.data_offset < 0:
            column.data_offset = self.position
        self.write(head)
        self.write(packed)
        column.uncompressed += len(head) + len(body)
        column.compressed += len(head) + len(packed)
        column.num_values += values

    def data_page(
        self, column: _Column, body: bytes | bytearray, values: int, encoding: int
    ) -> None:
        # DataPageHeader: 1 num_values, 2 encoding, 3/4 definition/repetition level encoding
        header = _struct(
            [(1, _T_I32, values), (2, _T_I32, encoding), (3, _T_I32, _RLE), (4, _T_I32, _RLE)]
        )
        self.page(column, _DATA_PAGE, body, (5, _T_STRUCT, header), values)


def _images(file: _File, frames: np.ndarray, palette: np.ndarray | None) -> _Column:
    """``observations``: optional list (def 1), repeated (rep 1), optional uint8 (def 3).

    With a ``palette``, ``frames`` are palette indices and the column holds ``palette[frames]``,
    looked up a page at a time straight into the page (a whole episode of RGB costs more to
    allocate and fill than to look up in cache-sized pieces).
    """
    column = _Column(["observations", "list", "element"], _INT32, [_PLAIN, _RLE, _RLE_DICTIONARY])
    column.start = file.position
    identity = np.arange(256, dtype="<i4").tobytes()
    header = _struct([(1, _T_I32, 256), (2, _T_I32, _PLAIN)])  # DictionaryPageHeader
    file.page(column, _DICTIONARY_PAGE, identity, (7, _T_STRUCT, header), 0)
    rows = frames.shape[0]
    shape = frames.shape[1:] if palette is None else (*frames.shape[1:], palette.shape[1])
    size = math.prod(shape)
    frames = np.ascontiguousarray(frames)
    row_levels = _run(1, 0) + (_run(size - 1, 1) if size > 1 else b"")
    per_page = max(1, PAGE_BYTES // size)
    pairs = _pairs(palette) if palette is not None and frames.shape[-1] % 2 == 0 else None
    for first in range(0, rows, per_page):
        block = frames[first : first + per_page]
        count = len(block)
        values = count * size
        groups = -(-values // 8)  # a bit-packed run holds whole groups of 8 values
        head = b"".join(
            [
                _levels(row_levels * count),  # repetition: 0 starts a row
                _levels(_run(values, 3)),  # definition: every value present
                b"\x08" + _varint(groups << 1 | 1),  # bit width 8, one bit-packed run
            ]
        )
        body = bytearray(len(head) + groups * 8)
        body[: len(head)] = head
        pixels = np.frombuffer(body, np.uint8, values, len(head)).reshape(count, *shape)
        if palette is None:
            pixels[...] = block
        elif pairs is not None:
            wide = pixels.reshape(*block.shape[:-1], block.shape[-1] // 2, 6)
            np.take(pairs, block.view(np.uint16), out=wide.view(pairs.dtype)[..., 0])
        else:
            np.take(palette, block, axis=0, out=pixels)
        file.data_page(column, body, values, _RLE_DICTIONARY)
    return column


def _pairs(palette: np.ndarray) -> np.ndarray:
    """Two neighbouring pixels' RGB (6 bytes) by the pair of indices read as one uint16.

    numpy copies a 3-byte item of ``palette`` one memmove at a time; half as many 6-byte items
    from this 384 KB table make the lookup twice as fast (20,000 RGB frames/s on one core).
    """
    table = np.empty((256, 256, 6), np.uint8)  # [second, first]: uint16 is little-endian
    table[:, :, :3] = palette[None, :, :]
    table[:, :, 3:] = palette[:, None, :]
    return table.reshape(65536, 6).view("V6")[:, 0]


def _scalars(file: _File, name: str, physical: int, values: np.ndarray) -> _Column:
    """An optional (nullable, never null) column in one PLAIN page."""
    column = _Column([name], physical, [_PLAIN, _RLE])
    column.start = file.position
    if physical == _BOOLEAN:
        plain = np.packbits(values.astype(bool), bitorder="little").tobytes()
    else:
        plain = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()
    body = _levels(_run(len(values), 1)) + plain
    file.data_page(column, body, len(values), _PLAIN)
    return column


# Minari's infos: field name -> T + 1 values, a list of bool, int, float or str, or a
# (T + 1, k) int64 array (a fixed-size list). ``_encode_info`` turns a 1-D array into lists
# of one value, so scalars come as Python lists, as ``minari_infos`` makes them.
Infos = dict[str, Any]
Signature = tuple[tuple[str, str, int], ...]  # (name, kind, list size) of each field


def info_signature(infos: Infos) -> Signature:
    """The shape of ``infos`` that decides its Parquet and Arrow layout."""
    fields = []
    for name, values in infos.items():
        if isinstance(values, np.ndarray):
            if values.ndim != 2 or values.dtype != np.int64:
                raise ValueError(f"info {name!r}: arrays must be (rows, k) int64")
            fields.append((name, "ints", int(values.shape[1])))
            continue
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or not kinds <= {bool, int, float, str}:
            raise ValueError(f"info {name!r} must hold values of one of bool, int, float, str")
        fields.append((name, kinds.pop().__name__, 0))
    return tuple(fields)


def example_infos(signature: Signature, rows: int) -> Infos:
    """Zeros in the shape of ``signature`` (for ``minari_layout``)."""
    zero: dict[str, Any] = {"bool": False, "int": 0, "float": 0.0, "str": ""}
    return {
        name: np.zeros((rows, size), np.int64) if kind == "ints" else [zero[kind]] * rows
        for name, kind, size in signature
    }


def _info_columns(file: _File, infos: Infos) -> list[_Column]:
    """``infos.<field>``: optional struct (def 1), optional field (def 2); a list field also
    repeated (rep 1) of optional int64 (def 4). Every value present, one PLAIN page each."""
    columns = []
    for name, kind, size in info_signature(infos):
        values = infos[name]
        if kind == "ints":
            column = _Column(["infos", name, "list", "element"], _INT64, [_PLAIN, _RLE])
            rows, count = len(values), len(values) * size
            row = _run(1, 0) + (_run(size - 1, 1) if size > 1 else b"")
            levels = _levels(row * rows) + _levels(_run(count, 4))
            plain = np.ascontiguousarray(values, "<i8").tobytes()
        else:
            count = len(values)
            physical, plain = _plain(kind, values)
            column = _Column(["infos", name], physical, [_PLAIN, _RLE])
            levels = _levels(_run(count, 2))
        column.start = file.position
        file.data_page(column, levels + plain, count, _PLAIN)
        columns.append(column)
    return columns


def _plain(kind: str, values: list[Any]) -> tuple[int, bytes]:
    if kind == "bool":
        return _BOOLEAN, np.packbits(np.asarray(values, bool), bitorder="little").tobytes()
    if kind == "int":
        return _INT64, np.asarray(values, "<i8").tobytes()
    if kind == "float":
        return _DOUBLE, np.asarray(values, "<f8").tobytes()
    encoded = [value.encode() for value in values]
    return _BYTE_ARRAY, b"".join(struct.pack("<I", len(e)) + e for e in encoded)


def _schema(signature: Signature = ()) -> list[bytes]:
    """SchemaElements, as pyarrow writes Minari's table (checked by ``check_layout``)."""
    # SchemaElement: 1 type, 3 repetition_type, 4 name, 5 num_children, 6 converted_type,
    # 10 logicalType (a union: 3 LIST, 10 INTEGER{1 bitWidth, 2 isSigned})
    list_type = _struct([(3, _T_STRUCT, _struct([]))])
    string_type = _struct([(1, _T_STRUCT, _struct([]))])
    uint8 = _struct([(10, _T_STRUCT, _struct([(1, _T_BYTE, 8), (2, _T_TRUE, False)]))])

    def element(name: str, **fields: Any) -> bytes:
        return _struct(
            [
                (1, _T_I32, fields.get("type")),
                (3, _T_I32, fields.get("repetition", _OPTIONAL)),
                (4, _T_BINARY, name),
                (5, _T_I32, fields.get("children")),
                (6, _T_I32, fields.get("converted")),
                (10, _T_STRUCT, fields.get("logical")),
            ]
        )

    infos: list[bytes] = []
    if signature:
        infos.append(element("infos", children=len(signature)))
    scalar = {"bool": _BOOLEAN, "int": _INT64, "float": _DOUBLE}
    for name, kind, _ in signature:
        if kind == "ints":
            infos.append(element(name, children=1, converted=_CONVERTED_LIST, logical=list_type))
            infos.append(element("list", repetition=_REPEATED, children=1))
            infos.append(element("element", type=_INT64))
        elif kind == "str":
            infos.append(
                element(name, type=_BYTE_ARRAY, converted=_CONVERTED_UTF8, logical=string_type)
            )
        else:
            infos.append(element(name, type=scalar[kind]))
    return [
        element("schema", repetition=_REQUIRED, children=5 + bool(signature)),
        element("observations", children=1, converted=_CONVERTED_LIST, logical=list_type),
        element("list", repetition=_REPEATED, children=1),
        element("element", type=_INT32, converted=_CONVERTED_UINT_8, logical=uint8),
        element("actions", type=_INT64),
        element("rewards", type=_DOUBLE),
        element("terminations", type=_BOOLEAN),
        element("truncations", type=_BOOLEAN),
        *infos,
    ]


def write_episode(
    path: Path,
    *,
    observations: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    terminations: np.ndarray,
    truncations: np.ndarray,
    arrow_schema: bytes,
    palette: np.ndarray | None = None,
    infos: Infos | None = None,
    codec: str = CODEC,
    level: int | None = CODEC_LEVEL,
) -> None:
    """One episode's file: T + 1 observations, T steps padded with a zero as Minari pads them.

    With a ``palette`` (256 x 3), ``observations`` are palette indices written as RGB.
    ``infos`` (T + 1 rows each) are written as Minari writes an EpisodeBuffer's infos.
    """
    if observations.dtype != np.uint8:
        raise ValueError(f"observations must be uint8, not {observations.dtype}")
    rows = len(observations)
    pad = rows - len(actions)
    infos = infos or {}
    if any(len(values) != rows for values in infos.values()):
        raise ValueError(f"every info needs {rows} values: one per observation")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        file = _File(out, codec, level if codec == "zstd" else None)
        columns = [
            _images(file, observations, palette),
            _scalars(file, "actions", _INT64, np.pad(actions.astype(np.int64), (0, pad))),
            _scalars(file, "rewards", _DOUBLE, np.pad(rewards.astype(np.float64), (0, pad))),
            _scalars(file, "terminations", _BOOLEAN, np.pad(terminations, (0, pad))),
            _scalars(file, "truncations", _BOOLEAN, np.pad(truncations, (0, pad))),
            *_info_columns(file, infos),
        ]
        code = _CODECS[codec]
        chunks = [
            _struct([(2, _T_I64, c.start), (3, _T_STRUCT, c.metadata(code))]) for c in columns
        ]  # ColumnChunk: 2 file_offset, 3 meta_data
        total = sum(c.uncompressed for c in columns)
        # RowGroup: 1 columns, 2 total_byte_size, 3 num_rows, 5 file_offset,
        # 6 total_compressed_size
        group = _struct(
            [
                (1, _T_LIST, (_T_STRUCT, chunks)),
                (2, _T_I64, total),
                (3, _T_I64, rows),
                (5, _T_I64, columns[0].start),
                (6, _T_I64, sum(c.compressed for c in columns)),
            ]
        )
        key_value = _struct([(1, _T_BINARY, b"ARROW:schema"), (2, _T_BINARY, arrow_schema)])
        # FileMetaData: 1 version, 2 schema, 3 num_rows, 4 row_groups, 5 key_value_metadata,
        # 6 created_by
        footer = _struct(
            [
                (1, _T_I32, 2),
                (2, _T_LIST, (_T_STRUCT, _schema(info_signature(infos)))),
                (3, _T_I64, rows),
                (4, _T_LIST, (_T_STRUCT, [group])),
                (5, _T_LIST, (_T_STRUCT, [key_value])),
                (6, _T_BINARY, CREATED_BY),
            ]
        )
        file.write(footer)
        file.write(struct.pack("<i", len(footer)) + b"PAR1")


# --- Minari's side ---------------------------------------------------------------------------


def supports(storage: MinariStorage) -> bool:
    """Whether episodes of this storage can be written here: Parquet, raw uint8 Box images
    (or vectors), Discrete actions. Anything else goes through Minari's own writer."""
    space, actions = storage.observation_space, storage.action_space
    return (
        isinstance(storage, ParquetStorage)
        and not storage.jpeg_encoding
        and isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and isinstance(actions, gym.spaces.Discrete)
        and np.dtype(actions.dtype) == np.int64
    )


@dataclass(frozen=True)
class Layout:
    """How Minari's own writer lays out an episode of a storage (read from a file it wrote)."""

    arrow_schema: bytes  # the footer's ARROW:schema: fixed-size list, field names, nullability
    schema: pq.ParquetSchema
    schema_arrow: pa.Schema


def minari_layout(storage: ParquetStorage, signature: Signature = ()) -> Layout:
    """Minari writes a one-step episode of zeros (and infos of ``signature``) into a scratch
    copy of ``storage``; its footer gives the layout, so the Arrow types are whatever this
    Minari and pyarrow write, and ``check_layout`` fails loudly if ours ever drifts from them."""
    with tempfile.TemporaryDirectory(prefix="arcade-minari-layout-") as scratch:
        # The totals are all of metadata.json that ``update_episodes`` reads; ``new`` would
        # also write the space's bounds there (0.6 MB of JSON for RGB) and parse them again.
        (Path(scratch) / "metadata.json").write_text('{"total_episodes": 0, "total_steps": 0}')
        copy = ParquetStorage(
            Path(scratch), storage.observation_space, storage.action_space, jpeg_encoding=False
        )
        copy.update_episodes(
            [
                EpisodeBuffer(
                    observations=np.zeros((2, *storage.observation_space.shape), np.uint8),
                    actions=np.zeros(1, np.int64),
                    rewards=np.zeros(1, np.float64),
                    terminations=np.zeros(1, bool),
                    truncations=np.zeros(1, bool),
                    infos=example_infos(signature, 2) or None,
                )
            ]
        )
        theirs = pq.ParquetFile(Path(scratch) / "0" / FILE_NAME)
        arrow_schema: bytes = theirs.metadata.metadata[b"ARROW:schema"]
        return Layout(arrow_schema, theirs.schema, theirs.schema_arrow)


def check_layout(path: Path, layout: Layout) -> None:
    """Raise if the file at ``path`` would read differently from one Minari writes."""
    mine = pq.ParquetFile(path)
    if not (
        mine.schema.equals(layout.schema)
        and mine.schema_arrow.equals(layout.schema_arrow, check_metadata=True)
    ):
        raise RuntimeError(
            "this Minari or pyarrow lays episodes out otherwise than "
            "exports/formats/episode_parquet.py; export with --format minari-arrow until it "
            f"is updated (ours: {mine.schema_arrow}; Minari's: {layout.schema_arrow})"
        )


def write_episode_metadata(storage: MinariStorage, index: int, metadata: dict[str, Any]) -> None:
    """``data/<index>/metadata.json`` as Minari's ``update_episode_metadata`` writes it, once.

    Minari's method also rewrites the dataset's metadata.json, which holds the observation
    space's bounds (0.6 MB for RGB) and is parsed and written several times per episode: the
    dataset totals are written once at the end of a run instead (``Writer.close``).
    """
    path = storage.data_path / str(index) / "metadata.json"
    with path.open("w") as handle:
        json.dump(metadata, handle, cls=NumpyEncoder)


def episode_metadata(index: int, steps: int, *, seed: int | None) -> dict[str, Any]:
    """What Minari's ``update_episodes`` records for an episode, in its order."""
    metadata: dict[str, Any] = {"id": index, "total_steps": steps}
    if seed is not None:
        metadata["seed"] = seed
    return metadata
