"""The input columns: latencies on the steps that apply a new input only, as the card says."""

from __future__ import annotations

from typing import Any

import pytest

from exports.card import EXAMPLE, dataset_card
from exports.inputs import input_columns
from recording import stepcolumns
from recording.recorder import STEP_FIELDS


def example() -> tuple[list[str], list[list[Any]]]:
    header, *rows = (row.split() for row in EXAMPLE)
    values = [[None if cell == "." else cell for cell in row] for row in rows]
    return header, values


def test_it_derives_the_cards_worked_example() -> None:
    header, rows = example()
    column = {name: [row[header.index(name)] for row in rows] for name in header}
    steps: dict[str, list[Any]] = {name: [None] * len(rows) for name in STEP_FIELDS}
    steps["input_seq"] = [int(v) for v in column["input_seq"]]
    steps["client_frame"] = [int(v) for v in column["client_frame"]]
    for name in ("t_shown", "t_key", "t_received", "t_step", "t_sent"):
        steps[name] = [None if v is None else float(v) for v in column[name]]
    derived = input_columns(stepcolumns.with_missing_columns(steps, len(rows)))
    first = int(column["step"][0])
    # Given only these rows, step 40 looks like the first to apply seq 6; the example has it
    # held since before: compare from step 41 on, and step 40's ms_since_input.
    assert derived["new_input"][1:] == [v == "true" for v in column["new_input"][1:]]
    for name in ("receive_to_step_ms", "step_to_sent_ms", "shown_to_key_ms", "ms_since_input"):
        shown = [None if v is None else float(v) for v in column[name]]
        assert derived[name][1:] == [
            None if v is None else pytest.approx(v, abs=0.05) for v in shown[1:]
        ], name
    assert derived["ms_since_input"][0] == pytest.approx(50.0, abs=0.05)
    frames = [None if v is None else int(v) for v in column["frames_after_shown"]]
    after = [None if f is None else f + first for f in derived["frames_after_shown"]]
    assert after[1:] == frames[1:]


def test_the_card_shows_the_worked_example() -> None:
    card = dataset_card(format="parquet", observation="rgb", episodes=[], layout="", loading="")

    assert "## Input latency" in card
    assert "| 41 | 7 | 39 | 5012.0 | 5020.0 | 100.0080 | 100.0167 | 100.0169 | true | 8.7 |" in card
