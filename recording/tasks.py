"""Celery tasks: thin, id-taking, idempotent, acknowledged late."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from . import services

TRANSIENT = (redis.ConnectionError, redis.TimeoutError, OperationalError)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(*TRANSIENT, services.ChunkMissing),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=5,
)
def store_chunks(self: Task, refs: list[list[Any]]) -> None:
    """Write a batch of chunks (from every session of one web process) and their transitions."""
    services.chunks_store(refs=[(str(episode_id), int(index)) for episode_id, index in refs])


def _patience() -> timedelta:
    """How long finalisation waits for missing chunks before it closes the episode anyway.

    A chunk whose worker was killed mid-task runs again once the broker's visibility timeout
    has passed, so the wait is that and a minute more.
    """
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    return timedelta(seconds=timeout + 60)


@shared_task(
    bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=None
)
def finalise_episode(self: Task, episode_id: str) -> None:
    """Close an episode once its chunks are stored; past the patience, close it anyway."""
    try:
        services.episode_finalise(episode_id=episode_id, patience=_patience())
    except services.ChunksPending as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 10)) from exc


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def reap_lost_episodes() -> list[str]:
    """Beat: end as interrupted the episodes whose live session stopped beating."""
    return services.episodes_reap(
        silent_for=timedelta(seconds=settings.ARCADE["LOST_AFTER_SECONDS"])
    )
