"""docs/recording.md lists the chunk header's keys and the step columns as the code types them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recording import chunkfile
from recording.stepcolumns import StepColumns

DOC = Path(__file__).resolve().parents[2] / "docs" / "recording.md"


def table_after(heading: str) -> list[str]:
    """The backticked names in the first column of the table that follows ``heading``."""
    lines = DOC.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[str] = []
    for line in lines[at + 1 :]:
        if rows and not line.startswith("|"):
            break
        match = re.match(r"\| `(\w+)` \|", line)
        if match:
            rows.append(match.group(1))
    return rows


@pytest.mark.parametrize(
    ("heading", "typed"),
    [
        ("Header (`ChunkHeader`)", chunkfile.ChunkHeader),
        ("Body (`Body`)", chunkfile.Body),
        ("**Step columns** (`StepColumns`", StepColumns),
    ],
)
def test_it_documents_every_field_of_the_typed_structures_in_order(
    heading: str, typed: type
) -> None:
    assert table_after(heading) == list(typed.__annotations__)
