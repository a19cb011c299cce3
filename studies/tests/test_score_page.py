"""The score page after a game block that has one: the participant's score against everyone
who finished the block before them, shown once, between the block and the next step."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from games.models import Game
from studies.models import Participant, StepVisit, Study
from studies.tests.test_game_blocks import block_study, played
from studies.tests.test_participants import enter, page, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def pong() -> Game:
    return Game.objects.create(slug="pong", title="Pong", env_id="ALE/Pong-v5", enabled=True)


@pytest.fixture
def study(pong: Game) -> Study:
    return block_study(pong, episodes=1, show_score_page=True)


def finish_block(study: Study, game: Game, pid: str, score: float) -> tuple[Client, Participant]:
    """A participant enters, plays the block's one game to ``score`` and presses Continue."""
    client = Client()
    participant = enter(client, study, PROLIFIC_PID=pid)
    assert post(client, study, {}).status_code == 302  # past the welcome page
    page(client, study)
    played(participant, game, steps=600, score=score)
    assert post(client, study, {}).status_code == 302  # Continue on the block
    participant.refresh_from_db()
    return client, participant


def others_finished(study: Study, game: Game, scores: list[float]) -> None:
    for i, score in enumerate(scores):
        finish_block(study, game, f"other-{i}", score)


def test_it_follows_the_block_with_the_score_and_where_it_stands(study: Study, pong: Game) -> None:
    others_finished(study, pong, [1, 2, 5, 8])
    client, ann = finish_block(study, pong, "ann", 6)
    response, _ = page(client, study)
    text = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "You scored 6, better than 75 % of participants" in text  # 1, 2 and 5 of 4
    assert "(4 others so far)" in text
    assert 'class="chart-mark"' in text and "You: 6" in text
    assert "Participants by score: 1: 1, 2: 1, 5: 1, 6: 1, 8: 1." in text  # the histogram
    assert ann.position == 2  # already past the block: its time ended when Continue was pressed
    visit = StepVisit.objects.get(participant=ann, position=1)
    assert visit.finished_at is not None
    assert visit.score_page == {"score": 6.0, "better_than": 75, "others": 4}


def test_it_is_shown_until_continue_and_then_never_again(study: Study, pong: Game) -> None:
    client, ann = finish_block(study, pong, "ann", 3)
    assert b"You scored 3" in page(client, study)[0].content
    assert b"You scored 3" in page(client, study)[0].content  # a reload shows it again
    assert post(client, study, {"score_page": "1"}).status_code == 302
    response, _ = page(client, study)
    assert b"Thanks" in response.content and b"You scored" not in response.content
    visit = StepVisit.objects.get(participant=ann, position=1)
    assert visit.score_seen_at is not None
    assert StepVisit.objects.filter(participant=ann, position=2).exists()  # the next step began


def test_a_second_continue_changes_nothing(study: Study, pong: Game) -> None:
    client, ann = finish_block(study, pong, "ann", 3)
    _, fields = page(client, study)
    assert client.post("/s/play/step/", {**fields, "score_page": "1"}).status_code == 302
    again = client.post("/s/play/step/", {**fields, "score_page": "1"})
    assert again.status_code == 409 and b"That step is done" in again.content
    ann.refresh_from_db()
    assert ann.position == 2


def test_the_next_step_waits_for_the_score_page(study: Study, pong: Game) -> None:
    client, ann = finish_block(study, pong, "ann", 3)
    _, fields = page(client, study)
    assert fields["position"] == "1"  # the score page is the block's
    skipped = client.post("/s/play/step/", {**fields, "position": "2"})  # Continue on Thanks
    assert skipped.status_code == 409
    ann.refresh_from_db()
    assert ann.position == 2 and not StepVisit.objects.filter(participant=ann, position=2)


def test_the_completion_code_waits_for_the_score_page(pong: Game) -> None:
    study = Study.objects.create(slug="last", title="Block last", status=Study.Status.OPEN)
    study.steps.create(order=0, kind="game", title="Play", game=pong, episodes=1,
                       show_score_page=True)  # fmt: skip
    client = Client()
    participant = enter(client, study, PROLIFIC_PID="ann")
    page(client, study)
    played(participant, pong, steps=600, score=4)
    assert post(client, study, {}).status_code == 302
    _, fields = page(client, study)
    early = client.post("/s/last/complete/", {"tab": fields["tab"]})
    assert early.status_code == 403
    assert post(client, study, {"score_page": "1"}).status_code == 302
    response, fields = page(client, study)
    assert b"Get my completion code" in response.content
    assert client.post("/s/last/complete/", {"tab": fields["tab"]}).status_code == 302


def test_the_first_to_finish_has_no_one_to_compare_with(study: Study, pong: Game) -> None:
    client, _ = finish_block(study, pong, "ann", 3)
    text = " ".join(page(client, study)[0].content.decode().split())
    assert "You scored 3. You are among the first to finish this part" in text


def test_ties_and_withdrawn_participants_are_not_counted_as_beaten(
    study: Study, pong: Game
) -> None:
    others_finished(study, pong, [2, 4, 4, 9])
    gone = Participant.objects.get(external_id="other-0")
    Participant.objects.filter(pk=gone.pk).update(state="withdrew")
    client, _ = finish_block(study, pong, "ann", 4)
    text = " ".join(page(client, study)[0].content.decode().split())
    assert "You scored 4, better than 0 % of participants" in text
    assert "(3 others so far)" in text


def test_a_block_without_a_score_page_goes_straight_on(pong: Game) -> None:
    study = block_study(pong, episodes=1)
    client, ann = finish_block(study, pong, "ann", 3)
    response, _ = page(client, study)
    assert b"Thanks" in response.content and b"You scored" not in response.content
    assert StepVisit.objects.get(participant=ann, position=1).score_page is None


def test_the_score_page_records_no_attention_of_its_own(study: Study, pong: Game) -> None:
    """The block's visit keeps its own focus and visibility: the page after it sends none."""
    client, _ = finish_block(study, pong, "ann", 3)
    text = page(client, study)[0].content.decode()
    data = re.search(r'<script id="study-data"[^>]*>(.*?)</script>', text)
    assert data is not None and '"attentionUrl": null' in data.group(1)
