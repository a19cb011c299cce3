"""Scores of a game block across its participants, added up in the database.

A participant's score in a block is their returns over the block's ended episodes (with at
least one step) added up, their own seat's return in a game of several seats. The rule is
written once, here: ``own_returns`` for one participant's live panel
(``services.block_progress``), and ``block_scores``, the same sum in one query for everyone who
finished the block, for the dashboard's histograms and the score page's comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import (
    Case,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from recording.models import Episode, EpisodeSeat

from .models import BlockEpisode, Participant, Step, StepVisit

# Seats a game may have (multi-agent ALE's games have two or four): a participant's return is
# read from ``seat_returns`` at their seat's index, which SQL cannot take from a column, so each
# possible index is a branch of the CASE.
MOST_SEATS = 4


def _own_return() -> Coalesce:
    """The participant's return in one linked episode: their seat's in a game of several seats
    (``seat`` alias), else the episode's."""
    returns = "episode__seat_returns"
    return Coalesce(
        Case(
            *(
                When(seat=i, then=Cast(KeyTextTransform(str(i), returns), FloatField()))
                for i in range(MOST_SEATS)
            ),
            default=None,
            output_field=FloatField(),
        ),
        F("episode__total_return"),
        Value(0.0),
        output_field=FloatField(),
    )


def ended_links() -> Q:
    """Block links to episodes that count: ended, with at least one step (as in the panel)."""
    return ~Q(episode__status=Episode.Status.ACTIVE) & Q(episode__steps__gt=0)


def _ended_with_seat(**lookups: object) -> QuerySet[BlockEpisode]:
    """Block links to ended episodes, each with the participant's seat in it (``seat``)."""
    seat = EpisodeSeat.objects.filter(
        episode=OuterRef("episode"), user=OuterRef("participant__user")
    ).order_by("index", "from_step")
    return BlockEpisode.objects.filter(ended_links(), **lookups).alias(
        seat=Subquery(seat.values("index")[:1])
    )


def own_returns(participant: Participant, step: Step) -> list[float]:
    """The participant's return in each episode they ended in ``step``, oldest first: what
    their live panel adds up (``services.block_progress``)."""
    links = _ended_with_seat(participant=participant, step=step).order_by("episode__started_at")
    return [float(r) for r in links.annotate(own=_own_return()).values_list("own", flat=True)]


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
