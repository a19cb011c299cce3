"""A study's figures for its dashboard in the admin, each counted or summed in the database.

``summary(study)`` makes a handful of aggregate queries, as many for ten thousand participants
as for ten: participants by state, completions per condition, the median time on each step,
each game block's episodes, hours and scores, the latest problem reports, and completions over
time. Python only adds up what comes back (one row per state, condition, step, block or hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Aggregate, Count, DurationField, F, Max, Min, Q, Sum
from django.db.models.functions import TruncDay, TruncHour

from . import scores
from .models import BlockEpisode, Participant, ProblemReport, Step, StepVisit, Study

ACTIVE = (Participant.State.STARTED, Participant.State.CONSENTED)
HOURLY_UP_TO = timedelta(days=3)  # completions over a shorter span are counted by the hour
LATEST_REPORTS = 10


class Median(Aggregate):
    """The median (PostgreSQL's ``percentile_cont``; on SQLite, ``MEDIAN`` from
    ``register_sqlite_median``)."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, function="MEDIAN", template="%(function)s(%(expressions)s)"
        )


class _SqliteMedian:
    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered, middle = sorted(self.values), len(self.values) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2


def register_sqlite_median(sender: Any, connection: Any, **_: Any) -> None:
    """``connection_created``: SQLite (``make run``) has no median of its own."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("MEDIAN", 1, _SqliteMedian)


@dataclass(frozen=True, slots=True)
class States:
    started: int  # entered, not yet consented (or the study has no consent step)
    consented: int
    in_game: int  # of the two above: on a game block's page now
    completed: int
    withdrew: int
    declined: int
    timed_out: int
    refused: int  # turned away by the connection gate

    @property
    def total(self) -> int:
        return (
            self.started + self.consented + self.completed + self.withdrew + self.declined
            + self.timed_out + self.refused
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConditionRow:
    name: str
    entered: int
    walking: int
    completed: int


@dataclass(frozen=True, slots=True)
class StepTime:
    step_id: int
    label: str
    retired: bool  # an earlier version of a step, kept for those who saw it
    finished: int  # visits that ended
    median: timedelta | None


@dataclass(frozen=True, slots=True)
class BlockRow:
    step_id: int
    title: str
    game: str
    retired: bool
    players: int  # participants with an episode in it
    episodes: int  # ended, with at least one step
    hours: float  # of play (steps at the game's rate) in those episodes
    scores: list[float]  # of each participant who finished the block (``scores``)


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    created_at: datetime
    participant_id: str
    step: str
    text: str
    resolved: bool


@dataclass(frozen=True, slots=True)
class Completions:
    points: list[tuple[datetime, int]]  # (hour or day, completed by its end), in time order
    hourly: bool

    @property
    def total(self) -> int:
        return self.points[-1][1] if self.points else 0


@dataclass(frozen=True, slots=True)
class Dashboard:
    states: States
    conditions: list[ConditionRow]
    step_times: list[StepTime]
    blocks: list[BlockRow]
    reports: list[ReportRow]
    reports_total: int
    reports_open: int
    completions: Completions

    @property
    def episodes(self) -> int:
        return sum(block.episodes for block in self.blocks)

    @property
    def hours(self) -> float:
        return sum(block.hours for block in self.blocks)


def states(study: Study) -> States:
    by_state = dict(
        study.participants.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    # On a game block's page now: walking, and their visit to the step they are on is a game's
    # (a participant moved onto a block who has not opened it yet is not playing).
    in_game = (
        study.participants.filter(
            state__in=ACTIVE,
            visits__position=F("position"),
            visits__finished_at__isnull=True,
            visits__step__kind=Step.Kind.GAME,
        )
        .distinct()
        .count()
    )
    s = Participant.State
    return States(
        started=by_state.get(s.STARTED, 0),
        consented=by_state.get(s.CONSENTED, 0),
        in_game=in_game,
        completed=by_state.get(s.COMPLETED, 0),
        withdrew=by_state.get(s.WITHDREW, 0),
        declined=by_state.get(s.DECLINED, 0),
        timed_out=by_state.get(s.TIMED_OUT, 0),
        refused=by_state.get(s.REFUSED, 0),
    )


def conditions(study: Study) -> list[ConditionRow]:
    rows = study.conditions.annotate(
        entered=Count("participants"),
        walking=Count("participants", filter=Q(participants__state__in=ACTIVE)),
        completed=Count("participants", filter=Q(participants__state=Participant.State.COMPLETED)),
    ).values_list("name", "entered", "walking", "completed")
    return [ConditionRow(*row) for row in rows]


def walk_order(steps: list[Step]) -> list[Step]:
    """Steps a participant can stand on, in the order of the outline (a group's members after
    it, by their order; a retired version just before the version that replaced it)."""
    children: dict[int | None, list[Step]] = {}
    for step in sorted(steps, key=lambda s: (s.order, s.pk)):
        children.setdefault(step.parent_id, []).append(step)
    ordered: list[Step] = []

    def visit(parent: int | None, depth: int) -> None:
        for step in children.get(parent, []):
            if not step.is_container:
                ordered.append(step)
            if depth < 10:
                visit(step.pk, depth + 1)

    visit(None, 0)
    return ordered


def step_times(study: Study, steps: list[Step]) -> list[StepTime]:
    took = Median(F("finished_at") - F("started_at"), output_field=DurationField())
    figures: dict[int, tuple[int, timedelta | None]] = {
        step: (finished, median)
        for step, finished, median in StepVisit.objects.filter(
            step__study=study, finished_at__isnull=False
        )
        .values("step")
        .annotate(finished=Count("pk"), median=took)
        .values_list("step", "finished", "median")
    }
    rows = []
    for step in walk_order(steps):
        if step.retired_at is not None and step.pk not in figures:
            continue  # an earlier version nobody finished: nothing to say
        finished, median = figures.get(step.pk, (0, None))
        rows.append(
            StepTime(
                step_id=step.pk,
                label=str(step),
                retired=step.retired_at is not None,
                finished=finished,
                median=median,
            )
        )
    return rows


def blocks(study: Study, steps: list[Step]) -> list[BlockRow]:
    played: dict[int, tuple[int, int, int]] = {
        step: (players, episodes, steps or 0)
        for step, players, episodes, steps in BlockEpisode.objects.filter(
            scores.ended_links(), step__study=study
        )
        .values("step")
        .annotate(
            players=Count("participant", distinct=True),
            episodes=Count("episode", distinct=True),
            steps=Sum("episode__steps"),
        )
        .values_list("step", "players", "episodes", "steps")
    }
    rows = []
    for step in walk_order(steps):
        if step.kind != Step.Kind.GAME:
            continue
        if step.retired_at is not None and step.pk not in played:
            continue
        players, episodes, steps_played = played.get(step.pk, (0, 0, 0))
        rows.append(
            BlockRow(
                step_id=step.pk,
                title=step.title,
                game=step.game.title if step.game else "",
                retired=step.retired_at is not None,
                players=players,
                episodes=episodes,
                hours=steps_played / (step.game.fps if step.game else 60) / 3600,
                scores=scores.block_scores(step),
            )
        )
    return rows


def completions(study: Study) -> Completions:
    done = study.participants.filter(state=Participant.State.COMPLETED, finished_at__isnull=False)
    span = done.aggregate(first=Min("finished_at"), last=Max("finished_at"))
    first, last = span["first"], span["last"]
    if first is None or last is None:
        return Completions(points=[], hourly=True)
    hourly = last - first <= HOURLY_UP_TO
    bucket = TruncHour("finished_at") if hourly else TruncDay("finished_at")
    counted = done.annotate(bucket=bucket).values("bucket").annotate(n=Count("pk"))
    points, total = [], 0
    for row in counted.order_by("bucket"):
        total += row["n"]
        points.append((row["bucket"], total))
    return Completions(points=points, hourly=hourly)


def reports(study: Study) -> tuple[list[ReportRow], int, int]:
    all_reports = ProblemReport.objects.filter(participant__study=study)
    figures = all_reports.aggregate(total=Count("pk"), open=Count("pk", filter=Q(resolved=False)))
    latest = all_reports.select_related("step").order_by("-created_at")[:LATEST_REPORTS]
    rows = [
        ReportRow(
            id=report.pk,
            created_at=report.created_at,
            participant_id=str(report.participant_id),
            step=report.step.title if report.step else "",
            text=report.text,
            resolved=report.resolved,
        )
        for report in latest
    ]
    return rows, figures["total"], figures["open"]


def summary(study: Study) -> Dashboard:
    steps = list(study.steps.select_related("game"))
    latest, total, still_open = reports(study)
    return Dashboard(
        states=states(study),
        conditions=conditions(study),
        step_times=step_times(study, steps),
        blocks=blocks(study, steps),
        reports=latest,
        reports_total=total,
        reports_open=still_open,
        completions=completions(study),
    )
