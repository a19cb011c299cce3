"""Counters kept in Redis, which workers and web processes add to and ``/metrics`` reads.

Workers run elsewhere and serve no HTTP, so what they count waits in Redis for a scrape of any
web process (``arcade/metrics.py``).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Counted by workers (and the web processes that queue chunks) in Redis.
REDIS_COUNTERS = {
    "chunks_queued": "Chunks handed from web processes to the workers.",
    "chunks_written": "Chunks written to storage with their transitions.",
    "task_failures": "Celery tasks that failed for good (after their retries).",
}
KEY = "arcade:metrics:{}"


def count(name: str, amount: int = 1, *, label: str = "") -> None:
    """Add to a counter kept in Redis (callable from any process); never raises."""
    from recording import transfer

    try:
        transfer.client().hincrby(KEY.format(name), label, amount)
    except Exception:  # monitoring must not break the work it watches
        log.warning("could not count %s", name, exc_info=True)
