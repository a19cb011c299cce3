"""The docs list the exported study fields as the code writes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studies.datafiles import TABLES, Table
from studies.scope import FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_datasets_md_lists_a_study_contexts_fields_in_order() -> None:
    text = (DOCS / "datasets.md").read_text()
    table = text[text.index("**What an episode was played for.**") :]
    documented = re.findall(r"^\| `(\w+)` \|", table.split("\n\n", 2)[1], re.M)
    assert documented == [name for name, _, _ in FIELDS]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_studies_md_lists_each_export_study_files_columns_in_order(table: Table) -> None:
    text = (DOCS / "studies.md").read_text()
    row = re.search(rf"^\| `{table.name}` \| [^|]+ \| (.+) \|$", text, re.M)
    assert row is not None
    documented = re.findall(r"`(\w+)`", row.group(1))
    assert documented == [c.name for c in table.columns]
