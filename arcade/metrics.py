"""Prometheus metrics at ``/metrics``: the live loop, the recording pipeline, episode states.

Web processes count in plain integers on their hot paths (``FrameStats``, ``TickStats``) and
a task folds them into Prometheus counters every few seconds; several web processes on one
machine share ``PROMETHEUS_MULTIPROC_DIR`` (``arcade.serve`` makes one), so a scrape of any of
them reports all. Workers count chunks and failed tasks in Redis, which every web process
reads at scrape time: workers run elsewhere and serve no HTTP. Episode states are counted in
the database at scrape time.

Set ``ARCADE_METRICS_TOKEN`` to require ``Authorization: Bearer <token>`` on scrapes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from games.engine.clock import TickStats

from .live import FrameStats

log = logging.getLogger(__name__)

FRAMES_SENT = Counter("arcade_frames_sent", "Frames sent to players.")
FRAMES_DROPPED = Counter(
    "arcade_frames_dropped", "Frames not sent because the player's client was behind."
)
TICKS = Counter("arcade_ticks", "Ticks of the shared game clocks.")
TICKS_LATE = Counter("arcade_tick_overruns", "Ticks that began more than half a frame period late.")
LIVE_SESSIONS = Gauge(
    "arcade_live_sessions",
    "Episodes hosted by web processes, running or paused for a reconnect.",
    multiprocess_mode="livesum",
)
PAUSED_SESSIONS = Gauge(
    "arcade_paused_sessions",
    "Episodes paused, waiting for their player to reconnect.",
    multiprocess_mode="livesum",
)

# Counted by workers (and the web processes that queue chunks) in Redis.
REDIS_COUNTERS = {
    "chunks_queued": "Chunks handed from web processes to the workers.",
    "chunks_written": "Chunks written to storage with their transitions.",
    "task_failures": "Celery tasks that failed for good (after their retries).",
}
_KEY = "arcade:metrics:{}"


def count(name: str, amount: int = 1, *, label: str = "") -> None:
    """Add to a counter kept in Redis (callable from any process); never raises."""
    from recording import transfer

    try:
        transfer.client().hincrby(_KEY.format(name), label, amount)
    except Exception:  # monitoring must not break the work it watches
        log.warning("could not count %s", name, exc_info=True)


class _Shared(Collector):
    """The Redis-kept counters and the episode states, read at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        from recording import transfer
        from recording.models import Episode

        client = transfer.client()
        for name, documentation in REDIS_COUNTERS.items():
            family = CounterMetricFamily(
                f"arcade_{name}", documentation, labels=["task"] if name == "task_failures" else []
            )
            for label, value in client.hgetall(_KEY.format(name)).items():  # type: ignore[union-attr]
                labels = [label.decode()] if name == "task_failures" else []
                family.add_metric(labels, float(value))
            yield family
        states = GaugeMetricFamily("arcade_episodes", "Episodes by status.", labels=["status"])
        counted = dict.fromkeys(Episode.Status.values, 0)
        for row in Episode.objects.order_by().values("status").annotate(n=Count("pk")):
            counted[row["status"]] = row["n"]
        for status, n in counted.items():
            states.add_metric([status], n)
        yield states


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    shared = CollectorRegistry()
    shared.register(_Shared())
    return generate_latest(registry) + generate_latest(shared)


class Flusher:
    """Folds the hot-path counts of this process into its Prometheus metrics."""

    def __init__(self, live: Callable[[], tuple[int, int]], *, interval: float = 5.0) -> None:
        self._live = live
        self._interval = interval
        self._seen = {"sent": 0, "dropped": 0, "ticks": 0, "late": 0}
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def flush(self) -> None:
        now = {
            "sent": FrameStats.sent,
            "dropped": FrameStats.dropped,
            "ticks": TickStats.ticks,
            "late": TickStats.late,
        }
        for name, metric in (
            ("sent", FRAMES_SENT),
            ("dropped", FRAMES_DROPPED),
            ("ticks", TICKS),
            ("late", TICKS_LATE),
        ):
            metric.inc(now[name] - self._seen[name])
        self._seen = now
        hosted, paused = self._live()
        LIVE_SESSIONS.set(hosted)
        PAUSED_SESSIONS.set(paused)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()


class MetricsMiddleware:
    """Serves ``/metrics`` ahead of the other middleware (no session, Host or CSRF needed)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != "/metrics":
            return self.get_response(request)
        token = settings.ARCADE["METRICS_TOKEN"]
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token and not secrets.compare_digest(given, token):
            return HttpResponse("A bearer token is required.\n", status=401)
        return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
