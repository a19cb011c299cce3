"""Nothing lost when a web process dies: its episodes stop beating and the watchdog ends them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from play.heartbeat import Heartbeat
from recording import services, transfer
from recording.models import Episode

from .helpers import LONG_AGO, died_mid_play, record_episode

SILENT_FOR = timedelta(seconds=60)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_ends_a_lost_episode_as_interrupted_keeping_every_stored_step(
    alice: Any, pong: Any
) -> None:
    episode = died_mid_play(alice, pong, stored=2)

    ended = services.episodes_reap(silent_for=SILENT_FOR)

    assert ended == [str(episode.pk)]
    episode.refresh_from_db()
    assert episode.status == Episode.Status.INCOMPLETE
    assert episode.end_reason == Episode.EndReason.INTERRUPTED
    # The chunks still in Redis were stored too: 4 chunks of 25 steps.
    assert episode.steps == 100
    assert episode.chunks.count() == episode.chunks_expected == 4
    assert episode.transitions.count() == 100
    assert episode.integrity_error.startswith(
        "interrupted: the live session was lost after step 100"
    )
    assert transfer.waiting(str(episode.pk)) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_leaves_alone_an_episode_whose_session_still_beats(alice: Any, pong: Any) -> None:
    episode = died_mid_play(alice, pong, stored=4)
    services.episodes_beat(episode_ids=[str(episode.pk)])

    assert services.episodes_reap(silent_for=SILENT_FOR) == []
    episode.refresh_from_db()
    assert episode.status == Episode.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_ends_a_lost_episode_once_when_two_watchdogs_find_it(alice: Any, pong: Any) -> None:
    episode = died_mid_play(alice, pong, stored=4)
    silent_since = timezone.now() - SILENT_FOR

    first = services.episode_interrupt(episode_id=str(episode.pk), silent_since=silent_since)
    second = services.episode_interrupt(episode_id=str(episode.pk), silent_since=silent_since)

    assert (first, second) == (True, False)
    assert episode.transitions.count() == 100


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_counts_an_episode_that_never_beat_from_its_start(alice: Any, pong: Any) -> None:
    episode = died_mid_play(alice, pong, stored=4)
    Episode.objects.filter(pk=episode.pk).update(heartbeat_at=None)

    assert services.episodes_reap(silent_for=SILENT_FOR) == []  # it started just now
    Episode.objects.filter(pk=episode.pk).update(started_at=timezone.now() - LONG_AGO)
    assert services.episodes_reap(silent_for=SILENT_FOR) == [str(episode.pk)]


@pytest.mark.django_db
def test_it_marks_only_active_episodes_alive(alice: Any, pong: Any) -> None:
    active, _ = record_episode(user=alice, game=pong, steps=5, store=False)
    ended, _ = record_episode(user=alice, game=pong, steps=5, store=False)
    Episode.objects.filter(pk=ended.pk).update(status=Episode.Status.COMPLETE)

    assert services.episodes_beat(episode_ids=[str(active.pk), str(ended.pk)]) == 1
    ended.refresh_from_db()
    assert ended.heartbeat_at is None


def test_it_runs_the_watchdog_with_entries_that_expire_before_their_next_run() -> None:
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["reap-lost-episodes"]

    assert entry["task"] == "recording.tasks.reap_lost_episodes"
    assert entry["options"]["expires"] < entry["schedule"]
    # The web processes beat several times before an episode counts as lost.
    assert settings.ARCADE["LOST_AFTER_SECONDS"] >= 2 * settings.ARCADE["HEARTBEAT_SECONDS"]


async def test_it_beats_for_every_live_episode_until_none_is_left() -> None:
    beats: list[list[str]] = []
    heartbeat = Heartbeat(beats.append, interval=0.01)
    heartbeat.add("episode-2")
    heartbeat.add("episode-1")
    await asyncio.sleep(0.035)
    heartbeat.discard("episode-1")
    heartbeat.discard("episode-2")
    await asyncio.sleep(0.03)

    assert beats[0] == ["episode-1", "episode-2"]
    assert 2 <= len(beats) <= 4  # and then it stopped


async def test_it_keeps_beating_after_a_failed_beat() -> None:
    calls: list[int] = []

    def flaky(ids: list[str]) -> None:
        calls.append(len(ids))
        if len(calls) == 1:
            raise ConnectionError("the database is restarting")

    heartbeat = Heartbeat(flaky, interval=0.01)
    heartbeat.add("episode-1")
    await asyncio.sleep(0.045)
    heartbeat.discard("episode-1")

    assert len(calls) >= 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_verifies_the_stored_steps_of_an_interrupted_episode(alice: Any, pong: Any) -> None:
    episode = died_mid_play(alice, pong, stored=4)

    services.episodes_reap(silent_for=SILENT_FOR)

    episode.refresh_from_db()
    assert (episode.status, episode.end_reason) == ("incomplete", "interrupted")
    assert episode.verification == Episode.Verification.VERIFIED, episode.verification_detail
    assert episode.verified_steps == 100
    assert episode.verification_detail.startswith(
        "the 100 stored steps and 100 stored frames replayed identically"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_does_not_verify_an_interrupted_episode_missing_a_chunk(alice: Any, pong: Any) -> None:
    episode = died_mid_play(alice, pong, stored=4)
    transfer.discard(str(episode.pk), 2)
    episode.chunks.filter(index=2).delete()

    services.episodes_reap(silent_for=SILENT_FOR)

    episode.refresh_from_db()
    assert episode.verification == Episode.Verification.FAILED
    assert "no stored chunk starts at frame 50" in episode.verification_detail
