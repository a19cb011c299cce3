"""Scores of a game block across its participants, added up in the database.

A participant's score in a block is their returns over the block's ended episodes (with at
least one step) added up, their own seat's return in a game of several seats. The rule is
written once, here: ``played`` for one participant's live panel (``services.block_progress``:
every episode of theirs in the block, its steps and their return, in one query), and
``block_scores``, the same sum in one query for everyone who finished the block, for the
dashboard's histograms and the score page's comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from recording.models import Chunk, Episode, EpisodeSeat

from .models import BlockEpisode, Participant, Step, StepVisit


class SeatReturn(Func):
    """A seat's return in an episode: element ``seat`` of its ``seat_returns`` list (NULL when
    the seat is unknown or the list has no such element). One JSON lookup by a computed index,
    which the ORM's key transforms cannot take."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="(%(expressions)s)::double precision",
            arg_joiner=" ->> ", **extra,
        )  # fmt: skip

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="CAST(json_extract(%(expressions)s || ']') AS REAL)",
            arg_joiner=", '$[' || ", **extra,
        )  # fmt: skip


def _own_return() -> Coalesce:
    """The participant's return in one linked episode: their seat's in a game of several seats
    (``seat`` alias), else the episode's."""
    return Coalesce(
        SeatReturn(F("episode__seat_returns"), F("seat")),
        F("episode__total_return"),
        Value(0.0),
        output_field=FloatField(),
    )


def ended_links() -> Q:
    """Block links to episodes that count: ended, with at least one step (as in the panel)."""
    return ~Q(episode__status=Episode.Status.ACTIVE) & Q(episode__steps__gt=0)


def _with_seat(links: QuerySet[BlockEpisode]) -> QuerySet[BlockEpisode]:
    """Block links, each with the participant's seat in its episode (``seat``)."""
    seat = EpisodeSeat.objects.filter(
        episode=OuterRef("episode"), user=OuterRef("participant__user")
    ).order_by("index", "from_step")
    return links.alias(seat=Subquery(seat.values("index")[:1]))


def _ended_with_seat(**lookups: object) -> QuerySet[BlockEpisode]:
    """Block links to ended episodes, each with the participant's seat in it (``seat``)."""
    return _with_seat(BlockEpisode.objects.filter(ended_links(), **lookups))


@dataclass(frozen=True, slots=True)
class Played:
    """One episode of a participant's in a block, as their live panel counts it."""

    counts: bool  # ended with at least one step: its return is part of their score
    steps: int  # played so far (a running episode's stored chunks: its total is written at its end)
    own: float  # the participant's return in it (their seat's)


def played(participant: Participant, step: Step) -> list[Played]:
    """Every episode the participant played in ``step``, oldest first, in one query."""
    stored = (
        Chunk.objects.filter(episode=OuterRef("episode"))
        .values("episode")
        .annotate(n=Sum("n_steps"))
        .values("n")
    )
    links = (
        _with_seat(BlockEpisode.objects.filter(participant=participant, step=step))
        .annotate(
            counts=ExpressionWrapper(ended_links(), output_field=BooleanField()),
            own=_own_return(),
            stored=Coalesce(Subquery(stored), Value(0)),
        )
        .order_by("episode__started_at")
        .values_list("counts", "episode__status", "episode__steps", "stored", "own")
    )
    return [
        Played(
            counts=bool(counts),
            steps=int(stored if status == Episode.Status.ACTIVE else total),
            own=float(own),
        )
        for counts, status, total, stored, own in links
    ]


def block_scores(step: Step, *, leaving_out: Participant | None = None) -> list[float]:
    """The score of each participant who finished ``step`` (their visit to it ended), withdrawn
    and declined ones left out; a finisher who ended no episode scored 0."""
    per_participant = (
        _ended_with_seat(participant=OuterRef("participant"), step=step)
        .values("participant")
        .annotate(score=Sum(_own_return()))
        .values("score")
    )
    finishers = (
        StepVisit.objects.filter(step=step, finished_at__isnull=False)
        .exclude(participant__state__in=Participant.GONE)
        .annotate(score=Coalesce(Subquery(per_participant), Value(0.0)))
    )
    if leaving_out is not None:
        finishers = finishers.exclude(participant=leaving_out)
    return [float(score) for score in finishers.values_list("score", flat=True)]


def better_than(score: float, others: Sequence[float]) -> int | None:
    """The whole percentage of ``others`` strictly below ``score`` (None: nobody to compare)."""
    if not others:
        return None
    return int(100 * sum(1 for other in others if other < score) / len(others))
