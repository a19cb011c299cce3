"""Prometheus metrics at ``/metrics``: the live loop, the recording pipeline, episode states.

Web processes count in plain integers on their hot paths and fold them into Prometheus
counters every few seconds (``play/metrics.py``); several web processes on one
machine share ``PROMETHEUS_MULTIPROC_DIR`` (``arcade.serve`` makes one), so a scrape of any of
them reports all. Workers count chunks and failed tasks in Redis, which every web process
reads at scrape time: workers run elsewhere and serve no HTTP. Episode states are counted in
the database at scrape time.

Set ``ARCADE_METRICS_TOKEN`` to require ``Authorization: Bearer <token>`` on scrapes.
"""

from __future__ import annotations

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
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

import play.metrics  # noqa: F401  the live loop's metrics, registered on import
from recording.counters import KEY, REDIS_COUNTERS

log = logging.getLogger(__name__)


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
            for label, value in client.hgetall(KEY.format(name)).items():  # type: ignore[union-attr]
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
