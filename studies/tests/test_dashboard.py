"""A study's dashboard: its figures (``studies.dashboard``), counted in the database, and the
admin page that shows them to staff."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from games.models import Game
from recording.models import Episode, EpisodeSeat
from studies import dashboard, scores, services
from studies.models import Condition, Participant, ProblemReport, Step, StepVisit, Study
from studies.tests.test_game_blocks import played
from studies.tests.test_participants import enter, page, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def pong() -> Game:
    return Game.objects.create(slug="pong", title="Pong", env_id="ALE/Pong-v5", enabled=True)


def feedback_study(game: Game) -> Study:
    """Consent, then each condition's page, a Pong block of one game, and a last page."""
    study = Study.objects.create(slug="feedback", title="Feedback study", status="open")
    Step.objects.create(study=study, order=0, kind="consent", title="Consent",
                        consent_version="v1", consent_items="I agree")  # fmt: skip
    branch = Step.objects.create(study=study, order=1, kind="conditions", title="Branch")
    shown = Condition.objects.create(study=study, name="shown", order=0)
    hidden = Condition.objects.create(study=study, name="hidden", order=1)
    Step.objects.create(study=study, parent=branch, condition=shown, kind="page", title="Shown")
    Step.objects.create(study=study, parent=branch, condition=hidden, kind="page", title="Hidden")
    Step.objects.create(study=study, order=2, kind="game", title="Play Pong", game=game,
                        episodes=1)  # fmt: skip
    Step.objects.create(study=study, order=3, kind="page", title="Thanks")
    return study


@dataclass
class Walker:
    client: Client
    participant: Participant


def arrive(study: Study, pid: str, condition: str | None = None) -> Walker:
    client = Client()
    participant = enter(client, study, PROLIFIC_PID=pid)
    if condition is not None:  # the balance would choose; these tests choose themselves
        chosen = Condition.objects.get(study=study, name=condition)
        plan = services.draw_plan(study, chosen, random.Random(1)).steps
        Participant.objects.filter(pk=participant.pk).update(condition=chosen, plan=plan)
    participant.refresh_from_db()
    return Walker(client, participant)


def consent(walker: Walker, study: Study) -> None:
    assert post(walker.client, study, {"agree0": "on"}).status_code == 302


def to_block(walker: Walker, study: Study) -> None:
    consent(walker, study)
    assert post(walker.client, study, {}).status_code == 302  # the condition's page
    page(walker.client, study)  # the block is open in their browser
    walker.participant.refresh_from_db()


def complete(walker: Walker, study: Study, game: Game, *, score: float) -> None:
    to_block(walker, study)
    played(walker.participant, game, steps=3600, score=score)  # a minute at 60 steps a second
    assert post(walker.client, study, {}).status_code == 302  # past the block
    assert post(walker.client, study, {}).status_code == 302  # past the last page
    _, fields = page(walker.client, study)
    assert walker.client.post(f"/s/{study.slug}/complete/", fields).status_code == 302


@pytest.fixture
def cast(pong: Game) -> Study:
    """Ann and Ben completed (shown, hidden), Cid is playing (shown), Dee declined, Eve
    withdrew after consenting, Fay timed out, Gus has only entered."""
    study = feedback_study(pong)
    complete(arrive(study, "ann", "shown"), study, pong, score=3)
    complete(arrive(study, "ben", "hidden"), study, pong, score=-2)
    to_block(arrive(study, "cid", "shown"), study)
    dee = arrive(study, "dee", "hidden")
    assert post(dee.client, study, {"decline": ""}).status_code == 200
    eve = arrive(study, "eve", "hidden")
    consent(eve, study)
    assert eve.client.post("/s/feedback/withdraw/").status_code == 200
    fay = arrive(study, "fay", "shown")
    Participant.objects.filter(pk=fay.participant.pk).update(state="timed_out")
    arrive(study, "gus", "shown")
    return study


def test_it_counts_participants_by_state(cast: Study) -> None:
    states = dashboard.states(cast)
    assert states == dashboard.States(
        started=1, consented=1, in_game=1, completed=2, withdrew=1, declined=1, timed_out=1,
        refused=0,
    )  # fmt: skip
    assert states.total == 7


def test_it_counts_completions_per_condition(cast: Study) -> None:
    assert dashboard.conditions(cast) == [
        dashboard.ConditionRow(name="shown", entered=4, walking=2, completed=1),
        dashboard.ConditionRow(name="hidden", entered=3, walking=0, completed=1),
    ]


def test_it_takes_the_median_time_of_each_step_in_plan_order(cast: Study) -> None:
    thanks = Step.objects.get(study=cast, title="Thanks")
    for minutes, visit in zip([1, 2], StepVisit.objects.filter(step=thanks), strict=True):
        StepVisit.objects.filter(pk=visit.pk).update(
            finished_at=visit.started_at + timedelta(minutes=minutes)
        )
    rows = dashboard.step_times(cast, list(cast.steps.all()))
    assert [row.label for row in rows] == [
        "Consent: Consent", "Page: Shown", "Page: Hidden", "Game block: Play Pong", "Page: Thanks",
    ]  # fmt: skip
    by_label = {row.label: row for row in rows}
    assert by_label["Consent: Consent"].finished == 4  # Ann, Ben, Cid, Eve (Dee's is deleted)
    assert by_label["Page: Thanks"].median == timedelta(seconds=90)
    assert by_label["Page: Hidden"].finished == 1


def test_it_sums_the_episodes_hours_and_scores_of_each_block(cast: Study, pong: Game) -> None:
    cid = Participant.objects.get(study=cast, external_id="cid")
    played(cid, pong, steps=1800, score=7)  # still in the block: counted, not yet scored
    [block] = dashboard.blocks(cast, list(cast.steps.select_related("game")))
    assert (block.title, block.game, block.players, block.episodes) == ("Play Pong", "Pong", 3, 3)
    assert block.hours == pytest.approx((3600 + 3600 + 1800) / 60 / 3600)
    assert sorted(block.scores) == [-2.0, 3.0]  # those who finished the block


def test_it_lists_the_latest_problem_reports_with_their_participant(cast: Study) -> None:
    cid = Participant.objects.get(study=cast, external_id="cid")
    services.report_problem(cid, "The game froze")
    ProblemReport.objects.filter(participant=cid).update(resolved=True)
    services.report_problem(cid, "Still frozen")
    rows, total, still_open = dashboard.reports(cast)
    assert [r.text for r in rows] == ["Still frozen", "The game froze"]
    assert rows[0].participant_id == str(cid.pk) and rows[0].step == "Play Pong"
    assert (total, still_open) == (2, 1)


def test_it_counts_completions_over_time_by_hour_over_a_short_span(cast: Study) -> None:
    ann, ben = Participant.objects.filter(study=cast, state="completed").order_by("external_id")
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    Participant.objects.filter(pk=ann.pk).update(finished_at=at)
    Participant.objects.filter(pk=ben.pk).update(finished_at=at + timedelta(hours=2))
    over_time = dashboard.completions(cast)
    assert over_time.hourly
    assert over_time.points == [
        (datetime(2025, 3, 1, 9, tzinfo=UTC), 1), (datetime(2025, 3, 1, 11, tzinfo=UTC), 2),
    ]  # fmt: skip


def test_it_counts_completions_over_time_by_day_over_a_long_span(cast: Study) -> None:
    ann, ben = Participant.objects.filter(study=cast, state="completed").order_by("external_id")
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    Participant.objects.filter(pk=ann.pk).update(finished_at=at)
    Participant.objects.filter(pk=ben.pk).update(finished_at=at + timedelta(days=5))
    over_time = dashboard.completions(cast)
    assert not over_time.hourly and over_time.total == 2
    assert [moment.day for moment, _ in over_time.points] == [1, 6]


def test_it_takes_as_many_queries_for_many_participants_as_for_few(cast: Study, pong: Game) -> None:
    with CaptureQueriesContext(connection) as few:
        dashboard.summary(cast)
    for i in range(5):
        complete(arrive(cast, f"more-{i}", "hidden"), cast, pong, score=i)
    with CaptureQueriesContext(connection) as many:
        summary = dashboard.summary(cast)
    assert summary.states.completed == 7
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_block_score_is_the_participants_own_seats_return(cast: Study, pong: Game) -> None:
    """In a game of several seats the participant's return is their seat's, not seat 0's,
    as the block's live panel says (``block_progress``)."""
    ann = Participant.objects.get(study=cast, external_id="ann")
    block = Step.objects.get(study=cast, kind="game")
    episode = Episode.objects.get(pk=ann.block_episodes.get().episode_id)
    Episode.objects.filter(pk=episode.pk).update(seat_returns=[-4, 6], total_return=-4)
    EpisodeSeat.objects.filter(episode=episode).update(index=1)
    assert services.block_progress(ann, block).score == 6
    assert sorted(scores.block_scores(block)) == [-2.0, 6.0]
    assert scores.block_scores(block, leaving_out=ann) == [-2.0]


# --- the page -------------------------------------------------------------------------------


def dashboard_url(study: Study) -> str:
    return f"/admin/studies/study/{study.pk}/dashboard/"


def test_it_shows_staff_the_figures_and_plots(cast: Study, staff: Any) -> None:
    client = Client()
    client.force_login(staff)
    cid = Participant.objects.get(study=cast, external_id="cid")
    services.report_problem(cid, "The game <froze>")
    response = client.get(dashboard_url(cast))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="state-completed">2<' in text and 'id="state-in_game">1<' in text
    assert "The game &lt;froze&gt;" in text
    assert f"/admin/studies/participant/{cid.pk}/change/" in text
    assert text.count('<svg class="chart"') == 2  # completions over time, the block's scores
    assert "Participants by score: -2: 1, 3: 1." in text  # the histogram's description


def test_the_study_page_and_list_link_to_it(cast: Study, staff: Any) -> None:
    client = Client()
    client.force_login(staff)
    change = client.get(f"/admin/studies/study/{cast.pk}/change/").content.decode()
    assert dashboard_url(cast) in change
    assert dashboard_url(cast) in client.get("/admin/studies/study/").content.decode()


def test_it_sends_people_who_are_not_staff_to_log_in(cast: Study, alice: Any) -> None:
    assert Client().get(dashboard_url(cast)).status_code == 302
    client = Client()
    client.force_login(alice)
    response = client.get(dashboard_url(cast))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_refuses_staff_who_may_not_view_studies(cast: Study, bob: Any) -> None:
    bob.is_staff = True
    bob.save()
    client = Client()
    client.force_login(bob)
    assert client.get(dashboard_url(cast)).status_code == 403
    bob.user_permissions.add(Permission.objects.get(codename="view_study"))
    assert client.get(dashboard_url(cast)).status_code == 200
