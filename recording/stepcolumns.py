"""A chunk's per-step columns as typed binary columns (chunk formats 4, 5 and 6).

As JSON the columns were 15 bytes a step after zstd, a third of all stored bytes: the server
times are 17-digit floats whose last digits are noise to a compressor. Here every numeric
column is lossless and cheap to compress: the value's 64 bits (an int, or a float's bit
pattern, which grows with the float for the positive times we store), each minus the one
before, zigzag-folded so small differences of either sign have zero high bytes, then split
into eight byte planes. A step's time moves by ~17 ms, a few tens of thousands of ulps: two
or three bytes of noise; the columns of the input stamp repeat until the next key press and
cost nothing. About 3 bytes a step in all.

Columns with gaps (the client's fields before the first key press) carry a bitmap of which
steps have a value. The held keys (format 5) change only when the player presses or releases
one, so a chunk stores each distinct set of keys once, as JSON, and per step the number of its
set in that list, packed like an int column: a few bytes a chunk. Format 6's per-seat columns
(a multi-seat episode's joint action, rewards, input stamps, holders and fresh flags) repeat
the same way and are stored the same way (``DISTINCT``: any JSON value, null included, so a
one-seat episode's null columns cost a few bytes a chunk). ``info`` and any column whose
values do not fit its type (which the protocol's validation should make impossible) are
stored as JSON, so nothing is ever refused.

Parquet has these encodings (DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT), but a Parquet file's
footer and schema would cost more than a second's worth of steps; this is ~60 lines of numpy.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any, TypedDict, cast

import numpy as np


class SeatStamp(TypedDict):
    """One seat's input message in effect at a step (the one-seat columns' input stamp)."""

    seq: int
    client_frame: int | None
    t_shown: float | None
    t_key: float | None
    t_received: float | None
    keys: list[str]


class StepColumns(TypedDict):
    """A chunk's steps (or a whole episode's), column by column: each list has one value a
    step. What the recorder writes, the workers copy into Transition rows, and the exports and
    the replay verification read (docs/recording.md, "Step columns")."""

    action: list[int]  # the action the player chose (index into the game's action set)
    reward: list[float]
    terminated: list[bool]
    truncated: list[bool]  # the env's, or the game's step limit
    info: list[dict[str, Any]]  # the env's info: ALE adds ``lives`` and, sticky, ``applied``
    input_seq: list[int]  # the input message in effect (0: none yet)
    client_frame: list[int | None]  # the frame the client had drawn when it sent that message
    t_shown: list[float | None]  # client clock, ms: that frame drawn
    t_key: list[float | None]  # client clock, ms: the key event
    t_received: list[float | None]  # server wall clock, s: the message received
    t_step: list[float]  # server wall clock, s: the step taken
    keys: list[Sequence[str] | None]  # the key codes held (format 5; older formats: null)
    t_sent: list[float | None]  # server wall clock, s: the frame sent (format 5; else null)
    # Format 6, multi-seat episodes only (null for one seat, and in older formats): per step,
    # one value per seat, in seat order (docs/recording.md, "Step columns").
    seat_actions: list[list[int] | None]  # the joint action
    seat_rewards: list[list[float] | None]  # each seat's reward
    seat_stamps: list[list[SeatStamp] | None]  # each seat's input stamp
    seat_holders: list[list[str] | None]  # "user:<pk>", "policy:<pk>", "vacant"
    seat_fresh: list[list[bool] | None]  # the seat's action was decided for this step


INT = "int"
FLOAT = "float"
BOOL = "bool"
JSON = "json"
# Any JSON value per step, stored as a per-chunk list of the distinct values and each step's
# number in it: for columns that repeat from step to step (held keys, per-seat columns).
DISTINCT = "distinct"

# How each column of StepColumns is stored, in StepColumns' order (a test holds them equal).
TYPES: dict[str, str] = {
    "action": INT,
    "reward": FLOAT,
    "terminated": BOOL,
    "truncated": BOOL,
    "info": JSON,
    "input_seq": INT,
    "client_frame": INT,
    "t_shown": FLOAT,
    "t_key": FLOAT,
    "t_received": FLOAT,
    "t_step": FLOAT,
    # Format 5: the key codes held (the input message's ``keys``, as given), and when the
    # step's frame went to the socket (null: dropped by flow control, or not sent).
    "keys": DISTINCT,
    "t_sent": FLOAT,
    # Format 6: multi-seat episodes' per-seat values (null for one seat).
    "seat_actions": DISTINCT,
    "seat_rewards": DISTINCT,
    "seat_stamps": DISTINCT,
    "seat_holders": DISTINCT,
    "seat_fresh": DISTINCT,
}
# The columns of each chunk format that has typed columns; a later format appends columns, and
# a chunk of an earlier one reads the new ones as null.
FORMAT_COLUMNS: dict[int, tuple[str, ...]] = {
    4: tuple(TYPES)[:11],
    5: tuple(TYPES)[:13],
    6: tuple(TYPES),
}
LATEST = max(FORMAT_COLUMNS)

_DIRECTORY = struct.Struct("<BI")  # per column, in TYPES order: how it is stored, its bytes
_TYPED, _TYPED_WITH_GAPS, _AS_JSON = 0, 1, 2


def empty() -> StepColumns:
    """Columns without steps, to append to."""
    return cast(StepColumns, {name: [] for name in TYPES})


def extend(columns: StepColumns, more: StepColumns) -> None:
    """Append ``more``'s steps to ``columns``, column by column."""
    into, tail = by_name(columns), by_name(more)
    for name in TYPES:
        into[name].extend(tail[name])


def sliced(columns: StepColumns, start: int, stop: int) -> StepColumns:
    """The steps [start, stop) of ``columns``."""
    return cast(StepColumns, {name: v[start:stop] for name, v in by_name(columns).items()})


def n_steps(columns: StepColumns) -> int:
    return len(columns["action"])


def step_seats(columns: StepColumns, i: int) -> dict[str, list[Any]] | None:
    """Step ``i``'s per-seat actions, rewards, holders and fresh flags, as its Transition row
    keeps them (``Transition.seats``); None for a one-seat episode's step."""
    actions = columns["seat_actions"][i]
    if actions is None:
        return None
    return {
        "actions": actions,
        "rewards": columns["seat_rewards"][i] or [],
        "holders": columns["seat_holders"][i] or [],
        "fresh": columns["seat_fresh"][i] or [],
    }


def by_name(columns: StepColumns) -> dict[str, list[Any]]:
    """The columns looked up by a name only known at run time (TypedDicts take literals)."""
    return cast(dict[str, list[Any]], columns)


def encode(steps: StepColumns) -> bytes:
    """Every column of ``steps`` (the keys of TYPES, in order), packed; ``decode`` undoes it.

    A directory leads: for each column a byte saying how it is stored and its length, so the
    chunk header names no columns (their names cost more than their values).
    """
    if tuple(steps) != tuple(TYPES):
        raise ValueError(f"step columns must be {tuple(TYPES)}, not {tuple(steps)}")
    columns = by_name(steps)
    if len({len(values) for values in columns.values()}) > 1:
        lengths = {name: len(values) for name, values in columns.items()}
        raise ValueError(f"step columns must be as long as each other, not {lengths}")
    directory: list[bytes] = []
    parts: list[bytes] = []
    for name, kind in TYPES.items():
        packed = _pack(kind, columns[name]) if kind != JSON else None
        if packed is None:
            how, data = _AS_JSON, _json(columns[name])
        else:
            gaps, data = packed
            how = _TYPED_WITH_GAPS if gaps else _TYPED
        directory.append(_DIRECTORY.pack(how, len(data)))
        parts.append(data)
    return b"".join(directory) + b"".join(parts)


def decode(data: bytes, n_steps: int, *, version: int = LATEST) -> StepColumns:
    """The columns of a chunk of format ``version``; columns it predates are null."""
    stored = FORMAT_COLUMNS[version]
    at = _DIRECTORY.size * len(stored)
    if len(data) < at:
        raise ValueError("the chunk header's step columns are cut short")
    steps: dict[str, list[Any]] = {}
    for number, name in enumerate(stored):
        kind = TYPES[name]
        how, length = _DIRECTORY.unpack_from(data, number * _DIRECTORY.size)
        column = data[at : at + length]
        if len(column) != length or how not in (_TYPED, _TYPED_WITH_GAPS, _AS_JSON):
            raise ValueError(f"the step column {name!r} is cut short or unreadable")
        steps[name] = (
            _from_json(name, column, n_steps)
            if how == _AS_JSON
            else _unpack(name, kind, how == _TYPED_WITH_GAPS, column, n_steps)
        )
        at += length
    if at != len(data):
        raise ValueError("the chunk header has bytes after its step columns")
    return with_missing_columns(steps, n_steps)


def with_missing_columns(steps: dict[str, Any], n_steps: int) -> StepColumns:
    """``steps`` as read (JSON in formats 2 and 3) with every column, in order: those an older
    chunk lacks are null. Every column must hold ``n_steps`` values."""
    columns = {name: steps.get(name, [None] * n_steps) for name in TYPES}
    for name, values in columns.items():
        if not isinstance(values, list) or len(values) != n_steps:
            raise ValueError(f"the step column {name!r} does not hold {n_steps} values")
    return cast(StepColumns, columns)


def _json(values: list[Any]) -> bytes:
    return json.dumps(values, separators=(",", ":")).encode()


# The Python types each kind takes as is (exactly: a bool is not an int here, and numpy
# scalars, which the machines do not hand over, go to JSON).
_TAKES: dict[str, set[type]] = {INT: {int}, FLOAT: {float, int}, BOOL: {bool}}


def _pack(kind: str, values: list[Any]) -> tuple[bool, bytes] | None:
    """(has gaps, bytes), or None when a value does not fit the type (stored as JSON)."""
    if kind == DISTINCT:
        return _pack_distinct(values)
    types = set(map(type, values))
    nulls = type(None) in types
    if not types - {type(None)} <= _TAKES[kind] or (nulls and kind == BOOL):
        return None
    if kind == BOOL:
        return False, np.packbits(np.asarray(values, bool)).tobytes()
    dtype = np.int64 if kind == INT else np.float64
    if not nulls:
        try:
            return False, _planes(np.asarray(values, dtype).view(np.int64))
        except OverflowError:  # an int past 64 bits
            return None
    valid = np.fromiter((v is not None for v in values), bool, len(values))
    try:
        present = np.asarray([v for v in values if v is not None], dtype).view(np.int64)
    except OverflowError:
        return None
    # A gap repeats the value before it, so it costs nothing in the differences.
    full = np.zeros(len(values), np.int64)
    if present.size:
        full[valid] = present
        filled = np.maximum.accumulate(np.where(valid, np.arange(len(values)), 0))
        full = full[filled]
    return True, np.packbits(valid).tobytes() + _planes(full)


_LIST_LENGTH = struct.Struct("<I")
_NOTHING = object()  # no value seen yet


def _pack_distinct(values: list[Any]) -> tuple[bool, bytes] | None:
    """The distinct values as a JSON list (u32 length first), then each step's value's number
    in it, packed like an int column. Values are told apart by their JSON, so a tuple and the
    list it reads back as are one value, and ``True`` is never taken for ``1``."""
    numbers = np.empty(len(values), np.int64)
    listed: dict[str, int] = {}
    # Steps mostly hold the very object of the step before (the keys held until the next
    # press; nothing at all in a one-seat game's seat columns): its JSON is made once.
    previous: object = _NOTHING
    number = 0
    try:
        for step, value in enumerate(values):
            if value is not previous:
                text = "null" if value is None else json.dumps(value, separators=(",", ":"))
                number = listed.setdefault(text, len(listed))
                previous = value
            numbers[step] = number
    except (TypeError, ValueError):
        return None  # not JSON: stored as JSON would refuse it the same way, so say it there
    data = ("[" + ",".join(listed) + "]").encode()
    return False, _LIST_LENGTH.pack(len(data)) + data + _planes(numbers)


def _unpack_distinct(name: str, data: bytes, n: int) -> list[Any]:
    if len(data) < _LIST_LENGTH.size:
        raise ValueError(f"the step column {name!r} has the wrong length")
    (length,) = _LIST_LENGTH.unpack_from(data)
    listed = json.loads(data[_LIST_LENGTH.size : _LIST_LENGTH.size + length])
    numbers = _unplanes(data[_LIST_LENGTH.size + length :], n)
    if not isinstance(listed, list) or (
        n and not 0 <= int(numbers.min()) <= int(numbers.max()) < len(listed)
    ):
        raise ValueError(f"the step column {name!r} names a value it does not list")
    if all(not isinstance(value, list | dict) for value in listed):
        return [listed[number] for number in numbers.tolist()]
    # Each step gets a value of its own (a list or dict shared by many steps would change
    # them all when one is changed): parsed again from its JSON, which is cheap for these.
    texts = [json.dumps(value, separators=(",", ":")) for value in listed]
    return [json.loads(texts[number]) for number in numbers.tolist()]


def _planes(bits: np.ndarray) -> bytes:
    delta = bits.copy()
    np.subtract(bits[1:], bits[:-1], out=delta[1:])  # wraps around; cumsum wraps it back
    zigzag = (delta << 1) ^ (delta >> 63)
    return zigzag.view(np.uint8).reshape(-1, 8).T.tobytes()


def _unplanes(data: bytes, n: int) -> np.ndarray:
    if len(data) != 8 * n:
        raise ValueError("a step column has the wrong length")
    zigzag = np.frombuffer(data, np.uint8).reshape(8, n).T.copy().view(np.uint64).reshape(n)
    delta = (zigzag >> np.uint64(1)).view(np.int64) ^ -((zigzag & np.uint64(1)).view(np.int64))
    return np.cumsum(delta, dtype=np.int64)


def _from_json(name: str, data: bytes, n: int) -> list[Any]:
    values = json.loads(data)
    if not isinstance(values, list) or len(values) != n:
        raise ValueError(f"the step column {name!r} has the wrong length")
    return values


def _unpack(name: str, kind: str, gaps: bool, data: bytes, n: int) -> list[Any]:
    if kind == DISTINCT:
        return _unpack_distinct(name, data, n)
    if kind == BOOL:
        if len(data) != -(-n // 8):
            raise ValueError(f"the step column {name!r} has the wrong length")
        return np.unpackbits(np.frombuffer(data, np.uint8), count=n).astype(bool).tolist()
    valid: np.ndarray | None = None
    if gaps:
        n_mask = -(-n // 8)
        valid = np.unpackbits(np.frombuffer(data[:n_mask], np.uint8), count=n).astype(bool)
        data = data[n_mask:]
    bits = _unplanes(data, n)
    out: list[Any] = (bits if kind == INT else bits.view(np.float64)).tolist()
    if valid is not None:
        out = [v if ok else None for v, ok in zip(out, valid.tolist(), strict=True)]
    return out
