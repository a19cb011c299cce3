"""Celery tasks: exports the admin asks for run in a worker, not in the request."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services
from .models import AdminExport


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def admin_export(export_id: int) -> None:
    """Write the admin's export ``export_id`` (RGB observations); idempotent (incremental)."""
    export = AdminExport.objects.filter(pk=export_id).first()
    if export is None:
        return  # deleted in the admin meanwhile
    services.admin_export_run(export)
