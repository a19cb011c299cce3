"""The live loop's Prometheus metrics: frames, ticks, live and paused sessions, AI decisions.

Web processes count in plain integers on their hot paths (``FrameStats``, ``TickStats``) and
``Flusher`` folds them into these metrics every few seconds; ``arcade/metrics.py`` serves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import Counter, Gauge

from games.engine.clock import TickStats
from games.engine.deciding import INFERENCE_BUCKETS_MS, DecisionStats

from .viewers import FrameStats

FRAMES_SENT = Counter("arcade_frames_sent", "Frames sent to players.")
FRAMES_DROPPED = Counter(
    "arcade_frames_dropped", "Frames not sent because the player's client was behind."
)
TICKS = Counter("arcade_ticks", "Ticks of the shared game clocks.")
TICKS_LATE = Counter("arcade_tick_overruns", "Ticks that began more than half a frame period late.")
DECISIONS_LATE = Counter(
    "arcade_policy_decisions_late",
    "AI policy decisions not ready at the tick after their frame (the action before held).",
)
# Counted into buckets on the hot path (``DecisionStats``), so a plain counter by bucket rather
# than a Histogram: ``le_ms`` is the bucket's upper bound, each count the bucket's own.
INFERENCES = Counter(
    "arcade_policy_inferences",
    "AI policy inferences, by the bucket of their duration (upper bound, ms).",
    ["le_ms"],
)
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
        self._seen = {"sent": 0, "dropped": 0, "ticks": 0, "late": 0, "decisions_late": 0}
        self._inferences = [0] * len(INFERENCE_BUCKETS_MS)
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
            "decisions_late": DecisionStats.late,
        }
        for name, metric in (
            ("sent", FRAMES_SENT),
            ("dropped", FRAMES_DROPPED),
            ("ticks", TICKS),
            ("late", TICKS_LATE),
            ("decisions_late", DECISIONS_LATE),
        ):
            metric.inc(now[name] - self._seen[name])
        self._seen = now
        inferences = list(DecisionStats.inference)
        for bound, count, seen in zip(
            INFERENCE_BUCKETS_MS, inferences, self._inferences, strict=True
        ):
            if count != seen:
                INFERENCES.labels(le_ms=str(bound)).inc(count - seen)
        self._inferences = inferences
        hosted, paused = self._live()
        LIVE_SESSIONS.set(hosted)
        PAUSED_SESSIONS.set(paused)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()
