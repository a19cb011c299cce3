"""Scores of a game block across its participants, added up in the database.

A participant's score in a block is what ``services.block_progress`` shows them: their returns
over the block's ended episodes (with at least one step) added up, their own seat's return in a
game of several seats. Here the same sum is one query for everyone who finished the block, for
the dashboard's histograms and the score page's comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import (
    Case,
    F,
    FloatField,
    OuterRef,
    Q,
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
    """The participant's return in one linked episode (``services._return_of`` in SQL)."""
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


def block_scores(step: Step, *, leaving_out: Participant | None = None) -> list[float]:
    """The score of each participant who finished ``step`` (their visit to it ended), withdrawn
    and declined ones left out; a finisher who ended no episode scored 0."""
    seat = EpisodeSeat.objects.filter(
        episode=OuterRef("episode"), user=OuterRef("participant__user")
    ).order_by("index", "from_step")
    per_participant = (
        BlockEpisode.objects.filter(ended_links(), participant=OuterRef("participant"), step=step)
        .alias(seat=Subquery(seat.values("index")[:1]))
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
