"""A chunk's step columns, stored as typed binary columns: every value back exactly."""

from __future__ import annotations

import json
import math
import struct
from typing import Any, cast

import numpy as np
import pytest
import zstandard

from recording import stepcolumns
from recording.recorder import SEAT_COLUMNS, STEP_FIELDS
from recording.stepcolumns import StepColumns


def steps_of(n: int, *, seed: int = 0, first_input: int = 3) -> StepColumns:
    """``n`` steps as a live session records them: no input stamp before ``first_input``,
    then a key press every few steps, and step times with jitter."""
    rng = np.random.default_rng(seed)
    steps = stepcolumns.empty()
    seq, frame, shown, key, received, action = 0, None, None, None, None, 0
    keys: list[str] = []
    for step in range(n):
        if step >= first_input and step % 7 == first_input % 7:
            seq, frame, action = seq + 1, step - 2, int(rng.integers(18))
            keys = [["ArrowUp"], [], ["ArrowLeft", "Space"], ["KeyQ"]][seq % 4]
            shown = round(812_345.6 + step * 16.6 + float(rng.random()) * 9, 1)
            key = shown + float(rng.random()) * 4
            received = 1_764_000_000.0 + step / 60 + float(rng.random()) * 1e-3
        steps["action"].append(action)
        reward = rng.choice([0.0, 1.0, -1.0, 25.0], p=[0.97, 0.01, 0.01, 0.01])
        steps["reward"].append(float(reward))
        steps["terminated"].append(step == n - 1)
        steps["truncated"].append(False)
        steps["info"].append({"lives": 3 - step // 40})
        steps["input_seq"].append(seq)
        steps["client_frame"].append(frame)
        steps["t_shown"].append(shown)
        steps["t_key"].append(key)
        steps["t_received"].append(received)
        steps["t_step"].append(1_764_000_000.0 + step / 60 + float(rng.normal(0, 5e-4)))
        steps["keys"].append(keys)
        sent = steps["t_step"][-1] + 2e-4 if step % 5 else None  # every fifth frame dropped
        steps["t_sent"].append(sent)
        for name in SEAT_COLUMNS:  # a one-seat episode's
            stepcolumns.by_name(steps)[name].append(None)
    return steps


def round_trip(steps: StepColumns) -> StepColumns:
    return stepcolumns.decode(stepcolumns.encode(steps), len(steps["action"]))


def bits(values: list[Any]) -> list[Any]:
    """Floats by their bit patterns, so -0.0, NaN payloads and the last ulp all count."""
    return [struct.pack("<d", v) if isinstance(v, float) else v for v in values]


def test_it_gives_back_every_value_bit_for_bit() -> None:
    steps = steps_of(60)

    back = round_trip(steps)

    assert back == steps
    read = stepcolumns.by_name(back)
    for name, values in stepcolumns.by_name(steps).items():
        assert bits(read[name]) == bits(values), name
        assert [type(v) for v in read[name]] == [type(v) for v in values], name


def test_it_keeps_the_gaps_before_the_first_key_press() -> None:
    steps = steps_of(20, first_input=10)

    back = round_trip(steps)

    assert back["t_shown"][:10] == [None] * 10
    assert back["client_frame"][:10] == [None] * 10
    assert back["t_shown"][10] is not None
    assert back == steps


def test_it_keeps_extreme_floats_exactly() -> None:
    steps = steps_of(8)
    steps["reward"] = [-0.0, 0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, -3.5, 0.1]
    steps["t_step"] = [float(x) for x in np.random.default_rng(1).normal(0, 1e9, 8)]

    back = round_trip(steps)

    assert bits(back["reward"]) == bits(steps["reward"])
    assert bits(back["t_step"]) == bits(steps["t_step"])


def test_it_stores_a_value_its_type_cannot_hold_as_json_rather_than_refuse_it() -> None:
    steps = steps_of(10)
    columns = stepcolumns.by_name(steps)  # values of the wrong type, on purpose
    columns["input_seq"][4] = 2**70  # past int64
    columns["client_frame"][5] = "7"  # not an int
    columns["t_key"][6] = True  # a bool is not a time

    back = round_trip(steps)

    assert back == steps
    assert back["t_key"][6] is True


def test_it_costs_less_than_json_once_compressed() -> None:
    steps = steps_of(600)
    zstd = zstandard.ZstdCompressor(level=3)

    packed = len(zstd.compress(stepcolumns.encode(steps)))

    as_json = len(zstd.compress(json.dumps(steps, separators=(",", ":")).encode()))
    assert packed < as_json / 1.5
    # Bytes a step, most of them the noise of the server's two times (step and frame sent).
    assert packed < 600 * 8


def test_it_refuses_columns_it_does_not_know() -> None:
    steps = cast(StepColumns, {**steps_of(4), "mood": ["calm"] * 4})

    with pytest.raises(ValueError, match="step columns must be"):
        stepcolumns.encode(steps)


def test_it_refuses_columns_of_different_lengths() -> None:
    steps = steps_of(4)
    steps["reward"].pop()

    with pytest.raises(ValueError, match="as long as each other"):
        stepcolumns.encode(steps)


def test_it_refuses_packed_columns_that_are_cut_short_or_too_long() -> None:
    packed = stepcolumns.encode(steps_of(30))

    with pytest.raises(ValueError, match="cut short"):
        stepcolumns.decode(packed[:-5], 30)
    with pytest.raises(ValueError, match="after its step columns"):
        stepcolumns.decode(packed + b"\0", 30)
    with pytest.raises(ValueError, match="cut short"):
        stepcolumns.decode(packed[:10], 30)


def test_it_stores_each_set_of_held_keys_once_a_chunk() -> None:
    steps = steps_of(600)
    long_names = [f"UnknownKeyWithAVeryLongName{k}" for k in range(16)]
    steps["keys"] = [long_names if step % 2 else [] for step in range(600)]

    back = round_trip(steps)

    assert back["keys"] == steps["keys"]
    listed = json.dumps([[], long_names], separators=(",", ":")).encode()
    packed = stepcolumns.encode(steps)
    assert packed.count(long_names[0].encode()) == 1  # the set once, not once a step
    assert listed in packed


def test_it_reads_the_columns_of_a_format_4_chunk_and_the_newer_ones_as_null() -> None:
    steps = steps_of(30)
    packed = stepcolumns.encode(steps)
    # A format 4 chunk is the same columns without the last two (keys, t_sent).
    directory = [struct.unpack_from("<BI", packed, 5 * i) for i in range(len(stepcolumns.TYPES))]
    data = packed[5 * len(directory) :]
    old_length = sum(length for _, length in directory[:11])  # the columns come in order
    format_4 = packed[: 5 * 11] + data[:old_length]

    back = stepcolumns.decode(format_4, 30, version=4)

    assert list(back) == list(STEP_FIELDS)
    assert back["keys"] == [None] * 30
    assert back["t_sent"] == [None] * 30
    older, newer = stepcolumns.by_name(back), stepcolumns.by_name(steps)
    assert {name: older[name] for name in STEP_FIELDS[:11]} == {
        name: newer[name] for name in STEP_FIELDS[:11]
    }


def test_it_stores_every_column_of_the_typed_step_columns_in_their_order() -> None:
    assert tuple(StepColumns.__annotations__) == tuple(stepcolumns.TYPES) == STEP_FIELDS
    assert stepcolumns.FORMAT_COLUMNS[6] == STEP_FIELDS
    assert stepcolumns.FORMAT_COLUMNS[5] == STEP_FIELDS[:13]


def two_seats_of(n: int) -> StepColumns:
    """``n`` steps of a two-seat episode: a person in seat 0 pressing every 7 steps, a policy
    in seat 1 deciding every 4."""
    steps = steps_of(n)
    for step in range(n):
        seat_0 = {
            "seq": steps["input_seq"][step],
            "client_frame": steps["client_frame"][step],
            "t_shown": steps["t_shown"][step],
            "t_key": steps["t_key"][step],
            "t_received": steps["t_received"][step],
            "keys": list(steps["keys"][step] or []),
        }
        seat_1: dict[str, Any] = {"seq": 0, "client_frame": None, "t_shown": None, "t_key": None,
                  "t_received": None, "keys": []}  # fmt: skip
        steps["seat_actions"][step] = [steps["action"][step], step // 4 % 6]
        steps["seat_rewards"][step] = [steps["reward"][step], -steps["reward"][step]]
        steps["seat_stamps"][step] = [seat_0, seat_1]  # type: ignore[list-item]
        steps["seat_holders"][step] = ["user:1", "policy:2" if step < n // 2 else "vacant"]
        steps["seat_fresh"][step] = [True, step % 4 == 0]
    return steps


def test_it_gives_back_every_seats_values_exactly() -> None:
    steps = two_seats_of(120)

    back = round_trip(steps)

    assert back == steps
    assert bits([r for rewards in back["seat_rewards"] for r in rewards or []]) == bits(
        [r for rewards in steps["seat_rewards"] for r in rewards or []]
    )


def test_it_lists_each_seat_value_once_a_chunk_and_gives_each_step_its_own() -> None:
    steps = two_seats_of(60)

    packed = stepcolumns.encode(steps)
    back = round_trip(steps)

    assert packed.count(b'"policy:2"') == 1
    back["seat_holders"][0].append("changed")  # type: ignore[union-attr]
    assert back["seat_holders"][1] == ["user:1", "policy:2"]


def test_it_tells_true_from_one_in_a_column_of_any_values() -> None:
    steps = two_seats_of(4)
    steps["seat_fresh"] = [[True, False], [1, 0], [True, False], None]  # type: ignore[list-item]

    back = round_trip(steps)

    assert back["seat_fresh"] == steps["seat_fresh"]
    assert [type(v) for v in back["seat_fresh"][1] or []] == [int, int]
