"""Celery tasks: thin, idempotent, acknowledged late."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def time_out_participants() -> int:
    """Beat: end the study for participants who left without a word (``inactive_minutes``)."""
    return services.time_out_inactive()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def purge_withdrawn() -> int:
    """Beat: delete withdrawn participants' answers, visits and reports past retention."""
    return services.purge_withdrawn()
