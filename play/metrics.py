"""The live loop's Prometheus metrics: frames, ticks, live and paused sessions.

Web processes count in plain integers on their hot paths (``FrameStats``, ``TickStats``) and
``Flusher`` folds them into these metrics every few seconds; ``arcade/metrics.py`` serves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import Counter, Gauge

from games.engine.clock import TickStats

from .viewers import FrameStats

FRAMES_SENT = Counter("arcade_frames_sent", "Frames sent to players.")
FRAMES_DROPPED = Counter(
    "arcade_frames_dropped", "Frames not sent because the player's client was behind."
)
TICKS = Counter("arcade_ticks", "Ticks of the shared game clocks.")
TICKS_LATE = Counter("arcade_tick_overruns", "Ticks that began more than half a frame period late.")
LIVE_SESSIONS = Gauge(
    "arcade_live_sessions",
    "Episodes hosted by web processes, running or paused for a reconnect.",
    multiprocess_mode="livesum",
)
PAUSED_SESSIONS = Gauge(
    "arcade_paused_sessions",
    "Episodes paused, waiting for their player to reconnect.",
    multiprocess_mode="livesum",
)


class Flusher:
    """Folds the hot-path counts of this process into its Prometheus metrics."""

    def __init__(self, live: Callable[[], tuple[int, int]], *, interval: float = 5.0) -> None:
        self._live = live
        self._interval = interval
        self._seen = {"sent": 0, "dropped": 0, "ticks": 0, "late": 0}
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def flush(self) -> None:
        now = {
            "sent": FrameStats.sent,
            "dropped": FrameStats.dropped,
            "ticks": TickStats.ticks,
            "late": TickStats.late,
        }
        for name, metric in (
            ("sent", FRAMES_SENT),
            ("dropped", FRAMES_DROPPED),
            ("ticks", TICKS),
            ("late", TICKS_LATE),
        ):
            metric.inc(now[name] - self._seen[name])
        self._seen = now
        hosted, paused = self._live()
        LIVE_SESSIONS.set(hosted)
        PAUSED_SESSIONS.set(paused)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()
