"""Celery tasks: exports the admin asks for run in a worker, not in the request."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def export_episodes(episode_ids: list[str], destination: str, format: str) -> None:
    """Export these episodes (RGB observations) to ``destination``; idempotent (incremental)."""
    services.dataset_export(
        query=services.selection(episode_ids),
        destination=destination,
        format=format,
        observation="rgb",
    )
