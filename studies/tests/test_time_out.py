"""Participants who leave without a word: timed out after their study's inactivity limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from games.models import Game
from recording.models import Episode
from studies import services
from studies.models import Participant, Study
from studies.tests.test_game_blocks import block_study, played
from studies.tests.test_participants import PROLIFIC, enter, make_study, page, post

pytestmark = pytest.mark.django_db


def last_seen(participant: Participant, minutes_ago: float) -> None:
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_a_participant_not_heard_from_for_the_limit_times_out() -> None:
    study = make_study(inactive_minutes=30)
    client = Client()
    gone = enter(client, study, **PROLIFIC)
    last_seen(gone, 31)
    assert services.time_out_inactive() == 1
    gone.refresh_from_db()
    assert gone.state == "timed_out" and gone.finished_at is not None
    response, _ = page(client, study)  # coming back later: the study has ended for them
    assert b"You timed out" in response.content


def test_a_participant_heard_from_within_the_limit_walks_on() -> None:
    study = make_study(inactive_minutes=30)
    here = enter(Client(), study, **PROLIFIC)
    last_seen(here, 29)
    assert services.time_out_inactive() == 0
    here.refresh_from_db()
    assert here.state == "started"


def test_a_study_without_a_limit_never_times_anyone_out() -> None:
    study = make_study(inactive_minutes=None)
    walker = enter(Client(), study, **PROLIFIC)
    last_seen(walker, 60 * 24 * 7)
    assert services.time_out_inactive() == 0


def test_only_participants_still_walking_time_out() -> None:
    study = make_study(inactive_minutes=30)
    client = Client()
    declined = enter(client, study, **PROLIFIC)
    post(client, study, {"decline": ""})
    last_seen(declined, 90)
    assert services.time_out_inactive() == 0
    declined.refresh_from_db()
    assert declined.state == "declined"


def test_a_participant_in_the_middle_of_a_game_is_left_to_finish_it() -> None:
    pong = Game.objects.create(slug="pong", title="Pong", env_id="ALE/Pong-v5", enabled=True)
    study = block_study(pong, episodes=3)
    Study.objects.filter(pk=study.pk).update(inactive_minutes=30)
    client = Client()
    player = enter(client, study, **PROLIFIC)
    post(client, study, {})
    page(client, study)
    running = played(player, pong, steps=100, score=1)
    Episode.objects.filter(pk=running.pk).update(status=Episode.Status.ACTIVE)
    last_seen(player, 45)
    assert services.time_out_inactive() == 0
    Episode.objects.filter(pk=running.pk).update(status=Episode.Status.INCOMPLETE)
    assert services.time_out_inactive() == 1


def test_every_request_of_the_participants_browser_is_a_sign_of_life() -> None:
    study = make_study(inactive_minutes=30)
    client = Client()
    walker = enter(client, study, **PROLIFIC)
    last_seen(walker, 20)
    client.post(f"/s/{study.slug}/tab/", {"t": "any"})  # an open page asks every few seconds
    walker.refresh_from_db()
    assert timezone.now() - walker.last_seen_at < timedelta(seconds=5)
    seen = walker.last_seen_at
    client.post(f"/s/{study.slug}/tab/", {"t": "any"})  # written at most once a minute
    walker.refresh_from_db()
    assert walker.last_seen_at == seen


def test_beat_times_participants_out_every_minute() -> None:
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["time-out-participants"]
    assert entry["task"] == "studies.tasks.time_out_participants"
    assert entry["options"]["expires"] < entry["schedule"] <= 60
