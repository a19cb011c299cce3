"""/metrics: what Prometheus scrapes, from the live loop, the workers and the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from arcade import metrics
from games.engine.clock import TickStats
from games.engine.deciding import DecisionStats
from play.metrics import Flusher
from play.viewers import FrameStats
from recording import transfer
from recording.tests.helpers import record_episode


def scrape(client: Client, *, authorization: str = "") -> dict[str, float]:
    response = client.get("/metrics", HTTP_HOST="10.1.2.3:9090", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


@pytest.fixture(autouse=True)
def no_counts_from_earlier_tests() -> None:
    client = transfer.client()
    for name in metrics.REDIS_COUNTERS:
        client.delete(f"arcade:metrics:{name}")


@pytest.mark.django_db
def test_it_reports_the_live_loop_folded_in_from_its_hot_path_counts() -> None:
    flusher = Flusher(lambda: (7, 2))
    flusher.flush()
    before = scrape(Client())
    FrameStats.sent += 120
    FrameStats.dropped += 3
    TickStats.late += 1

    flusher.flush()
    after = scrape(Client())

    assert after["arcade_frames_sent_total"] - before["arcade_frames_sent_total"] == 120
    assert after["arcade_frames_dropped_total"] - before["arcade_frames_dropped_total"] == 3
    assert after["arcade_tick_overruns_total"] - before["arcade_tick_overruns_total"] == 1
    assert (after["arcade_live_sessions"], after["arcade_paused_sessions"]) == (7, 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_it_counts_chunks_queued_and_written_and_episodes_by_status(alice: Any, pong: Any) -> None:
    record_episode(user=alice, game=pong, steps=60, chunk_steps=25)  # 3 chunks, stored

    samples = scrape(Client())

    assert samples["arcade_chunks_written_total"] == 3
    assert samples['arcade_episodes{status="complete"}'] == 1
    assert samples['arcade_episodes{status="active"}'] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
@pytest.mark.usefixtures("eager_celery")
def test_it_counts_a_task_that_failed_for_good_by_its_name() -> None:
    from arcade.celery import app
    from recording.tasks import finalise_episode

    app.conf.task_eager_propagates = False  # failing as in a worker, which sends the signal
    try:
        result = finalise_episode.delay("not-an-episode-id")  # not an error it retries
    finally:
        app.conf.task_eager_propagates = True

    assert result.failed()
    samples = scrape(Client())
    assert samples['arcade_task_failures_total{task="recording.tasks.finalise_episode"}'] == 1


@pytest.mark.django_db
def test_it_asks_for_the_token_when_one_is_set(settings: LazySettings) -> None:
    settings.ARCADE = {**settings.ARCADE, "METRICS_TOKEN": "s3cret"}
    client = Client()

    refused = client.get("/metrics", HTTP_HOST="10.1.2.3:9090")
    wrong = client.get("/metrics", HTTP_HOST="10.1.2.3:9090", HTTP_AUTHORIZATION="Bearer nope")

    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert "arcade_frames_sent_total" in scrape(client, authorization="Bearer s3cret")


@pytest.mark.django_db
def test_it_reports_ai_inference_times_by_bucket_and_late_decisions() -> None:
    flusher = Flusher(lambda: (0, 0))
    flusher.flush()
    before = scrape(Client())
    DecisionStats.timed(0.0004)
    DecisionStats.timed(0.0004)
    DecisionStats.timed(0.020)
    DecisionStats.late += 1

    flusher.flush()
    after = scrape(Client())

    def grew(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    assert grew('arcade_policy_inferences_total{le_ms="0.5"}') == 2
    assert grew('arcade_policy_inferences_total{le_ms="33"}') == 1
    assert grew("arcade_policy_decisions_late_total") == 1
