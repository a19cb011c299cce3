"""The probes: alive, ready to take players, and every dependency reachable."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.test import Client

from play import engine


@pytest.fixture
def client() -> Client:
    # A probe comes by the container's address, which ALLOWED_HOSTS need not name.
    return Client(HTTP_HOST="10.1.2.3:8000")


def test_it_answers_alive_without_touching_anything(client: Client) -> None:
    response = client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "checks": {}}


@pytest.mark.django_db
def test_it_is_ready_once_the_database_and_redis_answer_and_games_are_prewarmed(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "prewarmed", threading.Event())

    waiting = client.get("/readyz")
    engine.prewarmed.set()
    ready = client.get("/readyz")

    assert waiting.status_code == 503
    assert waiting.json()["checks"]["prewarm"].startswith("RuntimeError: still building")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "prewarm": "ok"}


@pytest.mark.django_db
def test_it_reports_a_missing_worker_by_name() -> None:
    # No Celery worker runs beside this test.
    response = Client(HTTP_HOST="localhost:8000").get("/healthz")

    assert response.status_code == 503
    checks: dict[str, Any] = response.json()["checks"]
    assert (checks["database"], checks["redis"], checks["storage"]) == ("ok", "ok", "ok")
    assert checks["workers"] == "RuntimeError: no Celery worker answered within 1 s"


@pytest.mark.django_db
def test_it_tells_what_is_broken_only_to_an_allowed_host(client: Client) -> None:
    response = client.get("/healthz")  # by the container's address, not an allowed name

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "Host not allowed: ask by a name in ALLOWED_HOSTS.",
    }
    assert client.get("/readyz", HTTP_HOST="evil.example").status_code in (200, 503)


@pytest.mark.integration
def test_it_is_healthy_with_the_whole_stack_running(live_stack: Any) -> None:
    import json
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(live_stack.url + "/healthz", timeout=5) as response:
                body = json.load(response)
                break
        except urllib.error.HTTPError as error:
            assert time.monotonic() < deadline, error.read()
            time.sleep(0.5)
    assert body == {
        "ok": True,
        "checks": {"database": "ok", "redis": "ok", "storage": "ok", "workers": "ok"},
    }
