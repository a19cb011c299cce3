"""The deadline clock that paces a realtime game."""

from __future__ import annotations


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
