"""The deadline clock that paces a realtime game, and the ticker that shares it."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable


class TickClock:
    """Next tick = last tick + period, so a late tick is caught up and the game never runs slow.

    After a stall longer than ``max_behind`` the clock re-anchors to now instead of replaying
    the whole stall at full speed; each re-anchor is counted as an overrun.
    """

    def __init__(self, fps: float, *, start: float, max_behind: float = 0.25) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.deadline = start
        self.max_behind = max_behind
        self.ticks = 0
        self.overruns = 0

    def wait(self, now: float) -> float:
        """Seconds until the next tick is due (0 when it is due or late)."""
        return max(0.0, self.deadline - now)

    def tick(self, now: float) -> None:
        """Call after stepping the tick that was due."""
        self.ticks += 1
        self.deadline += self.period
        if now - self.deadline > self.max_behind:
            self.deadline = now
            self.overruns += 1


Member = Callable[[], Awaitable[bool]]


class TickStats:
    """Process-wide counts for monitoring: plain integers, cheap to bump every tick."""

    ticks = 0
    late = 0  # ticks that began more than half a frame period after they were due


class Ticker:
    """Steps every realtime session of one frame rate on one shared deadline clock.

    One wake-up a tick for all sessions, instead of one per session: fewer timers, and every
    session's frame is written in the same turn of the event loop. A member is an async
    callable that steps its session and returns whether it wants the next tick; it must
    handle its own errors.

    Members whose player pressed a key since the last tick (``hurry``) are stepped first, so
    a tick's work for the other sessions does not add to their input latency.
    """

    def __init__(self, fps: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fps = fps
        self.monotonic = monotonic
        self._members: dict[Member, None] = {}  # insertion-ordered set
        self._hurried: dict[Member, None] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Member) -> None:
        self._members[member] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, member: Member) -> None:
        self._members.pop(member, None)
        self._hurried.pop(member, None)

    def hurry(self, member: Member) -> None:
        """Step this member first at the next tick (its player just pressed a key)."""
        if member in self._members:
            self._hurried[member] = None

    async def _run(self) -> None:
        monotonic = self.monotonic
        clock = TickClock(self.fps, start=monotonic() + 1.0 / self.fps)
        while self._members:
            wait = clock.wait(monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            TickStats.ticks += 1
            if monotonic() - clock.deadline > clock.period / 2:
                TickStats.late += 1
            hurried, self._hurried = self._hurried, {}
            order = [*hurried, *(m for m in self._members if m not in hurried)]
            for member in order:
                if member in self._members and not await member():
                    self._members.pop(member, None)
            clock.tick(monotonic())


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, Ticker]] = (
    weakref.WeakKeyDictionary()
)


def shared_ticker(fps: float) -> Ticker:
    """The ticker for this frame rate on the running event loop."""
    by_fps = _tickers.setdefault(asyncio.get_running_loop(), {})
    ticker = by_fps.get(fps)
    if ticker is None:
        ticker = by_fps[fps] = Ticker(fps)
    return ticker
