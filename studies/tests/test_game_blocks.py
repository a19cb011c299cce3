"""A study's game block: episodes played in it are linked to the participant, and the block is
done when its requirement is met (the live play itself is the platform's, tested in play/)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from games.models import Game
from play.seats import Holder
from play.sink import DjangoSink
from recording.models import Chunk, Episode
from studies import services
from studies.models import BlockEpisode, Participant, Step, Study
from studies.tests.test_participants import PROLIFIC, enter, page, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def pong() -> Game:
    return Game.objects.create(slug="pong", title="Pong", env_id="ALE/Pong-v5", enabled=True)


def block_study(game: Game, **block: Any) -> Study:
    study = Study.objects.create(slug="play", title="Play study", status=Study.Status.OPEN)
    Step.objects.create(study=study, order=0, kind="page", title="Welcome")
    Step.objects.create(study=study, order=1, kind="game", title="Play Pong", game=game,
                        countdown_seconds=2, **block)  # fmt: skip
    Step.objects.create(study=study, order=2, kind="page", title="Thanks")
    return study


def played(participant: Participant, game: Game, *, steps: int, score: float) -> Episode:
    """An episode as the live match makes it (its sink), ended as a worker finalises it."""
    assert participant.user_id is not None
    sink = DjangoSink(user=participant.user, game=game)
    episode = sink._start(
        seed=1, frame_shape=[210, 160], pixel_format="palette",
        holders=[Holder("human", participant.user_id)], roles=[],
    )  # fmt: skip
    Episode.objects.filter(pk=episode.pk).update(
        status=Episode.Status.COMPLETE, steps=steps, total_return=score
    )
    return episode


def test_a_participant_plays_under_an_account_made_for_them(pong: Game) -> None:
    study = block_study(pong, episodes=2)
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    assert participant.user is not None
    assert participant.user.email.endswith("@participants.invalid")
    assert not participant.user.has_usable_password()
    assert client.session["_auth_user_id"] == str(participant.user.pk)
    assert page(client, study)[0].status_code == 200  # the session still holds the study


def test_an_episode_of_the_block_carries_the_study_and_counts_towards_it(pong: Game) -> None:
    study = block_study(pong, episodes=2, bonus_per_point="0.05", bonus_cap="0.20")
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    free = played(participant, pong, steps=50, score=1)  # before the block: free play
    assert free.context == {}
    post(client, study, {})  # past the welcome page: now on the block
    response, fields = page(client, study)
    text = response.content.decode()
    assert 'data-ws-path="/ws/play/pong/"' in text and 'data-autostart="2"' in text
    assert "done after 2 games" in text
    first = played(participant, pong, steps=1800, score=3)
    assert first.context["study"] == "play" and first.context["participants"] == [
        str(participant.pk)
    ]
    assert BlockEpisode.objects.filter(participant=participant).count() == 1
    progress = client.get("/s/play/progress/").json()
    assert progress["episodes"] == 1 and progress["minutes"] == 0.5 and progress["score"] == 3
    assert progress["bonus"] == 0.15 and not progress["can_continue"]
    early = client.post("/s/play/step/", fields)
    assert early.status_code == 403 and b"Keep playing" in early.content
    played(participant, pong, steps=600, score=2)
    progress = client.get("/s/play/progress/").json()
    assert progress["episodes"] == 2 and progress["bonus"] == 0.2  # capped
    assert progress["can_continue"]
    assert client.post("/s/play/step/", fields).status_code == 302
    participant.refresh_from_db()
    assert participant.position == 2


def test_a_score_requirement_and_a_time_limit(pong: Game) -> None:
    study = block_study(pong, min_score=5, time_limit_minutes=10)
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    post(client, study, {})
    page(client, study)
    block = Step.objects.get(study=study, kind="game")
    played(participant, pong, steps=100, score=4)
    assert not services.block_progress(participant, block).done
    played(participant, pong, steps=100, score=5)
    assert services.block_progress(participant, block).done
    began = participant.visits.get(position=1).started_at
    later = services.block_progress(participant, block, now=began + timedelta(minutes=11))
    assert later.time_up


def test_a_running_game_counts_its_minutes_so_far_but_not_yet_its_score(pong: Game) -> None:
    study = block_study(pong, min_active_minutes=1)
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    post(client, study, {})
    played(participant, pong, steps=1800, score=3)  # half a minute, ended
    assert participant.user_id is not None
    running = DjangoSink(user=participant.user, game=pong)._start(
        seed=2, frame_shape=[210, 160], pixel_format="palette",
        holders=[Holder("human", participant.user_id)], roles=[],
    )  # fmt: skip
    for index in range(3):  # stored so far: its total is written when it ends
        Chunk.objects.create(
            episode=running, index=index, first_frame=index * 300, n_frames=300, n_steps=300,
            keyframe=index == 0, file=f"c{index}", size=1,
        )  # fmt: skip
    progress = client.get("/s/play/progress/").json()
    assert progress["minutes"] == 0.75 and progress["episodes"] == 1 and progress["score"] == 3
    assert not progress["can_continue"]


def test_a_game_block_needs_a_game_that_fits_its_seating(pong: Game) -> None:
    from django.core.exceptions import ValidationError

    study = block_study(pong, episodes=1)
    step = Step(study=study, kind="game", title="x", game=pong, seating="vs_ai", episodes=1)
    with pytest.raises(ValidationError, match="several seats"):
        step.full_clean()
    no_end = Step(study=study, kind="game", title="x", game=pong, seating="alone")
    with pytest.raises(ValidationError, match="Say when the block is done"):
        no_end.full_clean()


def test_the_connection_gate_measures_before_the_first_game_and_turns_slow_ones_away(
    pong: Game,
) -> None:
    study = block_study(pong, episodes=1)
    Study.objects.filter(pk=study.pk).update(max_ping_ms=150)
    fast, slow = Client(), Client()
    quick = enter(fast, study, PROLIFIC_PID="fast")
    post(fast, study, {})
    gate, fields = page(fast, study)
    assert b"Checking your connection" in gate.content and b"data-ping-url" in gate.content
    assert fast.get("/s/play/ping/").status_code == 204
    rtts = ",".join(["40", "42", "45", "400", "41", "44", "43", "39", "46", "47"])
    assert fast.post("/s/play/step/", {**fields, "rtts": rtts}).status_code == 302
    quick.refresh_from_db()
    assert quick.ping_ms == 44 and quick.state == "started"
    assert b'data-ws-path="/ws/play/pong/"' in page(fast, study)[0].content  # on to the game
    replay = fast.post("/s/play/step/", {**fields, "rtts": "1,1,1,1,1,1,1,1,1,1"})
    assert replay.status_code == 409
    laggy = enter(slow, study, PROLIFIC_PID="slow")
    post(slow, study, {})
    _, fields = page(slow, study)
    refused = slow.post("/s/play/step/", {**fields, "rtts": ",".join(["300"] * 10)})
    assert refused.status_code == 200 and b"too slow" in refused.content
    laggy.refresh_from_db()
    assert laggy.state == "refused" and laggy.ping_ms == 300
    assert b"nothing more to do" in slow.get("/s/play/step/").content


def test_a_study_may_keep_its_games_going_while_the_tab_is_hidden(pong: Game) -> None:
    study = block_study(pong, episodes=1)
    client = Client()
    enter(client, study, **PROLIFIC)
    post(client, study, {})
    assert b"data-no-hidden-pause" not in page(client, study)[0].content  # the game's own rule
    Study.objects.filter(pk=study.pk).update(pause_when_hidden=False)
    assert b'data-no-hidden-pause="true"' in page(client, study)[0].content
