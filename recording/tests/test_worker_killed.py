"""A worker killed with SIGKILL in the middle of a task loses nothing and duplicates nothing.

A real Celery worker process, real Redis and PostgreSQL: tasks are acknowledged late, so
the killed worker's task is handed to the next worker, which finishes it once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from arcade.tests.conftest import ROOT
from recording.models import Chunk, Episode, Transition
from recording.tasks import store_chunks

from .helpers import record_episode

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 5  # seconds before a dead worker's task goes to another worker


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    if connection.vendor != "postgresql":
        pytest.skip("the worker processes share the test database: PostgreSQL only")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ARCADE_TASK_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PYTHONUNBUFFERED": "1",
    }

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("w")
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "arcade",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            f"--hostname={name}@%h",
        ]
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append(worker)
        deadline = time.monotonic() + 60
        while "ready." not in (tmp_path / f"{name}.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / f"{name}.log").read_text()
            time.sleep(0.1)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_it_finishes_a_killed_workers_task_once_on_the_next_worker(
    start_worker: Callable[[str], subprocess.Popen[bytes]], alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=2400, chunk_steps=20, store=False)
    episode_id = str(episode.pk)
    chunk_dir = Path(settings.MEDIA_ROOT) / "episodes" / episode_id
    first = start_worker("first")

    store_chunks.delay([[episode_id, index] for index in range(episode.chunks_expected or 0)])
    # Mid-task: chunk objects are being written, and no row is committed yet.
    _wait(lambda: chunk_dir.exists() and any(chunk_dir.iterdir()), 30, "the task never started")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not Chunk.objects.filter(episode_id=episode_id).exists()

    start_worker("second")
    expected = episode.chunks_expected
    _wait(
        lambda: Chunk.objects.filter(episode_id=episode_id).count() == expected,
        VISIBILITY_TIMEOUT + 60,
        "the killed worker's task was not run again",
    )
    assert Transition.objects.filter(episode_id=episode_id).count() == 2400
    steps = list(
        Transition.objects.filter(episode_id=episode_id)
        .order_by("step")
        .values_list("step", flat=True)
    )
    assert steps == list(range(2400))
    assert len(list(chunk_dir.iterdir())) == expected  # one object per chunk, none twice
    assert Episode.objects.get(pk=episode_id).status == Episode.Status.ACTIVE
