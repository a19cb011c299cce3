"""Hands every session's chunks to the workers, batched per web process.

Publishing a Celery task costs about a millisecond of the web process; a chunk a second from
each of sixty sessions would spend 6 % of a core on publishing alone. The shipper collects
the chunks of all sessions and, every ``interval`` seconds, stores them in Redis in one round
trip and enqueues one task for the batch, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Item = tuple[str, int, bytes]


class ChunkShipper:
    def __init__(
        self, send: Callable[[list[Item]], None], *, interval: float = 0.25, retries: int = 5
    ) -> None:
        self._send = send
        self._interval = interval
        self._retries = retries
        self._pending: list[tuple[Item, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def ship(self, episode: str, index: int, blob: bytes) -> None:
        """Returns once the chunk is in Redis and its task is queued (or could not be)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # (a new loop: each test runs its own)
            self._wake = asyncio.Event()
            self._pending = []
            self._task = loop.create_task(self._run())
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append(((episode, index, blob), done))
        assert self._wake is not None
        self._wake.set()
        await done

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._interval)  # let the other sessions' chunks join
            self._wake.clear()
            batch, self._pending = self._pending, []
            await self._flush([item for item, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _flush(self, items: list[Item]) -> None:
        for attempt in range(self._retries):
            try:
                await asyncio.to_thread(self._send, items)
                return
            except Exception:
                log.exception("could not hand over %d chunk(s) (try %d)", len(items), attempt + 1)
                await asyncio.sleep(0.2 * 2**attempt)
        # Finalisation will find these chunks missing and mark their episodes incomplete.
        log.error("gave up handing over %d chunk(s)", len(items))
