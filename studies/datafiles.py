"""A study's own data as files for analysis: answers, consent, step timings, connection figures
and problem reports, each as Parquet (typed) and CSV (the same rows), with a README.md card.

``study_files`` writes them (``manage.py export_study``, the admin's "Export answers (zip)").
What is kept out, on purpose:

- declined and withdrawn participants (``Participant.objects.in_exports()``);
- every raw id a participant could be found by: recruitment ids (Prolific's and MTurk's
  parameters), completion codes (the recruiter pairs each with the person) and our own
  participant ids (sent in completion links). A participant is their pseudonym
  (``studies.scope.participant_pseudonym``), the one their episodes' context carries in the
  datasets; and their own ids are blanked out of what they typed (answers, problem reports),
  where participants do paste them. Only ``studies.bonuses`` writes recruitment ids, to pay.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.utils import timezone

from .models import Answer, Participant, ProblemReport, StepVisit, Study
from .scope import participant_pseudonym
from .services import MTURK, PROLIFIC

BLANKED = "[id removed]"
TIME = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    meaning: str


@dataclass(frozen=True)
class Table:
    name: str
    row: str  # one row per ...
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.type) for c in self.columns])


PARTICIPANT = Column("participant", pa.string(), "the participant's pseudonym")
CONDITION = Column("condition", pa.string(), "their condition (empty: the study has none)")

ANSWERS = Table(
    "answers",
    "answer to a question",
    (
        PARTICIPANT,
        CONDITION,
        Column("step", pa.int64(), "the questionnaire step's id"),
        Column("step_title", pa.string(), "its title"),
        Column("question", pa.int64(), "the question's id"),
        Column("question_text", pa.string(), "the question as shown (Markdown)"),
        Column("question_kind", pa.string(), "single, multiple, likert, number, short or long"),
        Column(
            "value",
            pa.string(),
            "the answer as JSON: a choice's text, a list of choices, a Likert point (1 is the "
            "lowest), a number, a text; null: left empty",
        ),
        Column("answered_at", TIME, "when the questionnaire was sent (UTC)"),
    ),
)
CONSENT = Table(
    "consent",
    "participant: their consent and how far they got",
    (
        PARTICIPANT,
        CONDITION,
        Column("study_version", pa.int64(), "the study's version they took"),
        Column(
            "state",
            pa.string(),
            "started, consented, completed, timed_out or refused (turned away by the "
            "connection gate)",
        ),
        Column("consent_version", pa.string(), "the version of the consent text they agreed to"),
        Column("consented_at", TIME, "when they agreed (UTC; null: not yet)"),
        Column("started_at", TIME, "when they entered (UTC)"),
        Column("finished_at", TIME, "when they completed or left (UTC; null: still walking)"),
    ),
)
TIMINGS = Table(
    "timings",
    "visit of a participant to a step of their plan",
    (
        PARTICIPANT,
        CONDITION,
        Column("position", pa.int64(), "the step's position in their plan, from 0"),
        Column("step", pa.int64(), "the step's id"),
        Column("step_kind", pa.string(), "page, consent, questionnaire or game"),
        Column("step_title", pa.string(), "its title"),
        Column("started_at", TIME, "when they first saw it (UTC)"),
        Column("finished_at", TIME, "when they moved on (UTC; null: they did not)"),
        Column("seconds", pa.float64(), "finished_at - started_at (null: not finished)"),
        Column("hidden_seconds", pa.float64(), "of those, seconds the page's tab was hidden"),
        Column("blurred_seconds", pa.float64(), "seconds the page did not have the focus"),
        Column(
            "attention",
            pa.string(),
            "the page's focus and visibility changes, JSON: [[seconds since it opened, "
            "focused, visible], ...]",
        ),
    ),
)
CONNECTION = Table(
    "connection",
    "participant: their connection",
    (
        PARTICIPANT,
        CONDITION,
        Column("state", pa.string(), "as in consent (refused: turned away by the gate)"),
        Column("ping_ms", pa.float64(), "median round trip to the server, ms (null: not measured)"),
    ),
)
PROBLEMS = Table(
    "problems",
    "problem report",
    (
        PARTICIPANT,
        CONDITION,
        Column("step", pa.int64(), "the step they were on (null: none)"),
        Column("step_title", pa.string(), "its title"),
        Column("text", pa.string(), "what they wrote"),
        Column("page", pa.string(), "the page's path"),
        Column("created_at", TIME, "when (UTC)"),
        Column("resolved", pa.bool_(), "marked resolved in the admin"),
    ),
)
TABLES = (ANSWERS, CONSENT, TIMINGS, CONNECTION, PROBLEMS)


# --- the rows ---------------------------------------------------------------------------------


def _own_ids(participant: Participant) -> re.Pattern[str] | None:
    """The participant's ids as they might type them (any letter case)."""
    ids = {str(participant.pk), participant.external_id, participant.completion_code or ""}
    ids |= {str(participant.parameters.get(name, "")) for name in (*PROLIFIC, *MTURK)}
    ids = {i for i in ids if len(i) >= 4}  # shorter would blank ordinary words
    if not ids:
        return None
    return re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)), re.I)


def _blank(value: Any, ids: re.Pattern[str] | None) -> Any:
    if ids is None:
        return value
    if isinstance(value, str):
        return ids.sub(BLANKED, value)
    if isinstance(value, list):
        return [_blank(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _blank(v, ids) for k, v in value.items()}
    return value


@dataclass
class Roster:
    """The participants in the export, in the order they entered, and how each appears."""

    participants: list[Participant]
    pseudonyms: dict[Any, str]
    conditions: dict[Any, str]
    ids: dict[Any, re.Pattern[str] | None]  # what to blank in what they typed
    order: dict[Any, int]

    def person(self, participant_id: Any) -> dict[str, Any]:
        return {
            "participant": self.pseudonyms[participant_id],
            "condition": self.conditions[participant_id],
        }

    def blanked(self, participant_id: Any, value: Any) -> Any:
        return _blank(value, self.ids[participant_id])


def roster(study: Study) -> Roster:
    participants = list(
        Participant.objects.filter(study=study)
        .in_exports()
        .select_related("condition")
        .order_by("started_at", "pk")
    )
    return Roster(
        participants=participants,
        pseudonyms={p.pk: participant_pseudonym(p.pk) for p in participants},
        conditions={p.pk: p.condition.name if p.condition else "" for p in participants},
        ids={p.pk: _own_ids(p) for p in participants},
        order={p.pk: index for index, p in enumerate(participants)},
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def answer_rows(r: Roster) -> list[dict[str, Any]]:
    answers = Answer.objects.filter(participant__in=r.participants).select_related("question__step")
    ordered = sorted(
        answers,
        key=lambda a: (r.order[a.participant_id], a.answered_at, a.question.step.order,
                       a.question.order, a.question_id),
    )  # fmt: skip
    return [
        {
            **r.person(a.participant_id),
            "step": a.question.step_id,
            "step_title": a.question.step.title,
            "question": a.question_id,
            "question_text": a.question.text,
            "question_kind": a.question.kind,
            "value": _json(r.blanked(a.participant_id, a.value)),
            "answered_at": a.answered_at,
        }
        for a in ordered
    ]


def consent_rows(r: Roster) -> list[dict[str, Any]]:
    return [
        {
            **r.person(p.pk),
            "study_version": p.study_version,
            "state": p.state,
            "consent_version": p.consent_version,
            "consented_at": p.consented_at,
            "started_at": p.started_at,
            "finished_at": p.finished_at,
        }
        for p in r.participants
    ]


def timing_rows(r: Roster) -> list[dict[str, Any]]:
    visits = StepVisit.objects.filter(participant__in=r.participants).select_related("step")
    return [
        {
            **r.person(v.participant_id),
            "position": v.position,
            "step": v.step_id,
            "step_kind": v.step.kind,
            "step_title": v.step.title,
            "started_at": v.started_at,
            "finished_at": v.finished_at,
            "seconds": (v.finished_at - v.started_at).total_seconds() if v.finished_at else None,
            "hidden_seconds": v.hidden_seconds,
            "blurred_seconds": v.blurred_seconds,
            "attention": _json(v.attention),
        }
        for v in sorted(visits, key=lambda v: (r.order[v.participant_id], v.position))
    ]


def connection_rows(r: Roster) -> list[dict[str, Any]]:
    return [{**r.person(p.pk), "state": p.state, "ping_ms": p.ping_ms} for p in r.participants]


def problem_rows(r: Roster) -> list[dict[str, Any]]:
    reports = ProblemReport.objects.filter(participant__in=r.participants).select_related("step")
    return [
        {
            **r.person(report.participant_id),
            "step": report.step_id,
            "step_title": report.step.title if report.step else "",
            "text": r.blanked(report.participant_id, report.text),
            # The page's path only: a query string could carry the link's parameters.
            "page": r.blanked(report.participant_id, report.page.split("?")[0]),
            "created_at": report.created_at,
            "resolved": report.resolved,
        }
        for report in sorted(
            reports, key=lambda report: (r.order[report.participant_id], report.created_at)
        )
    ]


def study_rows(study: Study) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, participants in the order they entered."""
    r = roster(study)
    return {
        ANSWERS.name: answer_rows(r),
        CONSENT.name: consent_rows(r),
        TIMINGS.name: timing_rows(r),
        CONNECTION.name: connection_rows(r),
        PROBLEMS.name: problem_rows(r),
    }


# --- the files --------------------------------------------------------------------------------


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _write_table(table: Table, rows: list[dict[str, Any]], folder: Path) -> list[str]:
    pq.write_table(
        pa.Table.from_pylist(rows, schema=table.schema), folder / f"{table.name}.parquet"
    )
    with (folder / f"{table.name}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.name for c in table.columns])
        writer.writerows([_csv_cell(row[c.name]) for c in table.columns] for row in rows)
    return [f"{table.name}.parquet", f"{table.name}.csv"]


@dataclass
class StudyFiles:
    study: str
    destination: str
    rows: dict[str, int] = field(default_factory=dict)  # table: rows
    files: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # state: participants

    def lines(self) -> list[str]:
        gone = ", ".join(f"{n} {state}" for state, n in self.left_out.items()) or "none"
        return [
            f"{self.study}: wrote {len(self.files)} files to {self.destination} "
            f"(left out: {gone}).",
            *(f"  {name}: {_rows(n)}" for name, n in self.rows.items()),
        ]


def study_files(study: Study, destination: Path, *, now: datetime | None = None) -> StudyFiles:
    """Write the study's tables (Parquet and CSV) and its card into ``destination``."""
    now = now or timezone.now()
    destination.mkdir(parents=True, exist_ok=True)
    rows = study_rows(study)
    written = StudyFiles(study=study.slug, destination=str(destination))
    for table in TABLES:
        written.files += _write_table(table, rows[table.name], destination)
        written.rows[table.name] = len(rows[table.name])
    left = Participant.objects.filter(study=study).exclude(
        pk__in=Participant.objects.in_exports().values("pk")
    )
    written.left_out = dict(sorted(Counter(left.values_list("state", flat=True)).items()))
    (destination / "README.md").write_text(card(study, rows, written.left_out, now=now))
    written.files.append("README.md")
    return written


def study_zip(study: Study, *, now: datetime | None = None) -> bytes:
    """The same files in one zip (the admin's download)."""
    folder = Path(tempfile.mkdtemp(prefix="arcade-study-"))
    try:
        written = study_files(study, folder / study.slug, now=now)
        archive = folder / "study.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name in written.files:
                zipped.write(folder / study.slug / name, f"{study.slug}/{name}")
        return archive.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the card ---------------------------------------------------------------------------------


def _counts(values: Iterable[str]) -> str:
    counted = Counter(v or "(none)" for v in values)
    return ", ".join(f"{name}: {n}" for name, n in sorted(counted.items())) or "none"


def card(
    study: Study, rows: dict[str, list[dict[str, Any]]], left_out: dict[str, int], *, now: datetime
) -> str:
    people = rows[CONSENT.name]
    gone = ", ".join(f"{n} {state}" for state, n in left_out.items()) or "none"
    lines = [
        f"# {study.title}: the study's data",
        "",
        f"Study `{study.slug}`, version {study.version}; exported "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC by Arcade.",
        "",
        f"- participants: {len(people)} (by state: {_counts(p['state'] for p in people)}; by "
        f"condition: {_counts(p['condition'] for p in people)})",
        f"- left out: {gone} (declined and withdrawn participants are never exported)",
        *(f"- {table.name}: {_rows(len(rows[table.name]))}" for table in TABLES),
        "",
        "## Who is who",
        "",
        "A participant appears only as a pseudonym, `participant`: HMAC-SHA256 of "
        "`participant:<their id>` under the platform's pseudonym key. Their episodes in the "
        "game datasets (`export_dataset --study`) name them by the same pseudonym (each "
        "episode's `context.participants`), so the two join on it. No recruitment id "
        "(Prolific, MTurk), completion code or participant id is in these files; such ids "
        f"typed into an answer or a problem report are replaced by `{BLANKED}`.",
        "",
        "## Files",
        "",
        "Each table is written twice with the same rows: `<table>.parquet` (typed; times are "
        "UTC timestamps) and `<table>.csv` (UTF-8, a header row; times ISO 8601 in UTC, "
        "booleans `true`/`false`, empty cells null).",
        "",
    ]
    for table in TABLES:
        lines += [
            f"### `{table.name}`: one row per {table.row}",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
            *(f"| `{c.name}` | {c.type} | {c.meaning} |" for c in table.columns),
            "",
        ]
    lines += [
        "## Loading",
        "",
        "```python",
        "import json, pandas as pd",
        'answers = pd.read_parquet("answers.parquet")',
        'answers["value"] = answers.value.map(json.loads)',
        'wide = answers.pivot(index="participant", columns="question", values="value")',
        "```",
        "",
    ]
    return "\n".join(lines)
