"""Tells the workers which episodes this web process is still playing.

Every ``interval`` seconds, one UPDATE marks all of the process's live episodes (running or
paused for a reconnect) alive. If the process dies, its episodes stop beating and the
watchdog (``recording.tasks.reap_lost_episodes``) ends them as interrupted, keeping every
step that reached storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        beat: Callable[[list[str]], object],
        *,
        interval: float,
        attended: Callable[[], set[str]] | None = None,
    ) -> None:
        self._beat = beat
        self._interval = interval
        # Only these of the live episodes are marked: a game nobody is attached to (beyond
        # its grace) must go quiet, so that the watchdog ends it if its process cannot.
        self._attended = attended
        self._live: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, episode: str) -> None:
        self._live.add(episode)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def discard(self, episode: str) -> None:
        self._live.discard(episode)

    @property
    def live(self) -> frozenset[str]:
        return frozenset(self._live)

    async def _run(self) -> None:
        while self._live:
            await asyncio.sleep(self._interval)
            live = self._live if self._attended is None else self._live & self._attended()
            try:
                await asyncio.to_thread(self._beat, sorted(live))
            except Exception:  # the next beat tries again; the watchdog allows several misses
                log.exception("could not mark %d live episode(s) alive", len(self._live))
