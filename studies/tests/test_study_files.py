"""export_study: a study's answers, consent, step timings, connection figures and problem reports
as Parquet and CSV with a card; participants only as pseudonyms, and only those still in."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studies.datafiles import BLANKED, TABLES
from studies.scope import participant_pseudonym
from studies.tests.cast import RAW_IDS, Walked

pytestmark = pytest.mark.django_db


def export(walked: Walked, destination: Path) -> str:
    out = StringIO()
    call_command("export_study", "reflexes", "--destination", str(destination), stdout=out)
    return out.getvalue()


def parquet(root: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(root / f"{table}.parquet")


def test_it_writes_each_table_as_parquet_and_csv_with_the_same_rows(
    walked: Walked, tmp_path: Path
) -> None:
    export(walked, tmp_path)
    for table in TABLES:
        frame = parquet(tmp_path, table.name)
        with (tmp_path / f"{table.name}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert list(frame.columns) == [c.name for c in table.columns] == list(rows[0])
        assert len(frame) == len(rows) > 0, table.name
        assert frame.participant.tolist() == [row["participant"] for row in rows]
    consent = parquet(tmp_path, "consent")
    assert str(consent.consented_at.dtype) == "datetime64[us, UTC]"


def test_answers_name_the_participant_by_pseudonym_with_condition_step_and_question(
    walked: Walked, tmp_path: Path
) -> None:
    export(walked, tmp_path)
    answers = parquet(tmp_path, "answers")
    pat = answers[answers.participant == participant_pseudonym(walked.pat.participant.pk)]
    assert pat.question_text.tolist() == ["Your age?", "I play video games often.", "Comments?"]
    assert pat.question_kind.tolist() == ["number", "likert", "short"]
    assert [json.loads(v) for v in pat.value] == [31.0, 3, f"My id: {BLANKED}, thanks"]
    assert set(pat.condition) == {"fast"} and set(pat.step_title) == {"About you"}
    with (tmp_path / "answers.csv").open(newline="") as handle:
        max_rows = [
            row
            for row in csv.DictReader(handle)
            if row["participant"] == participant_pseudonym(walked.max.participant.pk)
        ]
    assert (max_rows[0]["condition"], json.loads(max_rows[0]["value"])) == ("slow", 45.0)


def test_consent_timings_connection_and_problem_reports(walked: Walked, tmp_path: Path) -> None:
    export(walked, tmp_path)
    me = participant_pseudonym(walked.pat.participant.pk)
    consent = parquet(tmp_path, "consent").set_index("participant").loc[me]
    pat = walked.pat.refresh()
    assert (consent.state, consent.consent_version, consent.study_version) == ("completed", "v3", 1)
    assert consent.consented_at == pd.Timestamp(pat.consented_at)
    timings = parquet(tmp_path, "timings")
    mine = timings[timings.participant == me]
    assert mine.position.tolist() == [0, 1, 2, 3, 4]
    assert mine.step_kind.tolist() == ["consent", "questionnaire", "game", "game", "page"]
    assert mine.step_title.tolist()[2:4] == ["Pong, fast", "Pong again"]
    survey = mine.iloc[1]  # where the page reported its focus and visibility
    assert survey.seconds == (survey.finished_at - survey.started_at).total_seconds()
    assert (survey.hidden_seconds, survey.blurred_seconds) == (2.5, 3.0)
    assert json.loads(survey.attention) == [[1.5, False, False]]
    connection = parquet(tmp_path, "connection").set_index("participant")
    assert connection.loc[me].ping_ms == 42.5
    assert pd.isna(connection.loc[participant_pseudonym(walked.max.participant.pk)].ping_ms)
    problems = parquet(tmp_path, "problems")
    assert problems.text.tolist() == [f"The game froze (I am {BLANKED})"]
    assert (problems.participant.tolist(), problems.step_title.tolist()) == ([me], ["Pong, fast"])


def test_declined_and_withdrawn_participants_are_left_out(walked: Walked, tmp_path: Path) -> None:
    summary = export(walked, tmp_path)
    kept = {participant_pseudonym(w.participant.pk) for w in (walked.pat, walked.max, walked.lee)}
    for table in TABLES:
        assert set(parquet(tmp_path, table.name).participant) <= kept, table.name
    assert set(parquet(tmp_path, "consent").participant) == kept
    everything = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for gone in (walked.wendy.participant.pk, walked.dora.pk):
        assert participant_pseudonym(gone).encode() not in everything
    assert b"Too hard" not in everything and b"rather not" not in everything
    assert "left out: 1 declined, 1 withdrew" in summary


def test_no_raw_recruitment_id_code_or_participant_id_is_in_any_file(
    walked: Walked, tmp_path: Path
) -> None:
    export(walked, tmp_path)
    people = walked.everyone()
    secrets = [*RAW_IDS, *(str(p.pk) for p in people), *(p.external_id for p in people)]
    secrets += [p.completion_code for p in people if p.completion_code]
    files = list(tmp_path.iterdir())
    assert len(files) == 2 * len(TABLES) + 1
    for path in files:
        data = path.read_bytes().lower()
        for secret in secrets:
            assert secret.lower().encode() not in data, (path.name, secret)


def test_the_card_says_what_each_file_holds_with_counts_and_the_export_time(
    walked: Walked, tmp_path: Path
) -> None:
    export(walked, tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("# Reflexes: the study's data")
    assert "Study `reflexes`, version 1; exported 20" in card
    assert "- participants: 3 (by state: completed: 3; by condition: fast: 1, slow: 2)" in card
    # Pat's three answers, Max's and Lee's two (they left the comment empty).
    assert "- answers: 7 rows" in card and "- problems: 1 row\n" in card
    for table in TABLES:
        assert f"### `{table.name}`: one row per {table.row}" in card
        for column in table.columns:
            assert f"| `{column.name}` | {column.type} |" in card


def test_an_unknown_study_is_refused(db: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="there is no study 'nope'"):
        call_command("export_study", "nope", "--destination", str(tmp_path))
