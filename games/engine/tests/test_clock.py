"""The deadline clock, driven by a fake monotonic time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from games.engine.clock import TickClock


class FakeTime:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def catch_up(clock: TickClock, now: float) -> int:
    """Step every tick that is already due at ``now`` (instantly); how many were due."""
    ticks = 0
    while clock.wait(now) == 0:
        clock.tick(now)
        ticks += 1
        assert ticks < 1000, "the clock never got back on schedule"
    return ticks


def test_it_is_due_at_its_start() -> None:
    time = FakeTime()
    clock = TickClock(60, start=time.now + 0.01)

    assert clock.wait(time.now) == pytest.approx(0.01)
    assert clock.wait(time.advance(0.01)) == 0


def test_it_moves_each_deadline_on_by_exactly_one_period() -> None:
    time = FakeTime()
    clock = TickClock(60, start=time.now)

    for n in range(1, 10_001):
        time.now = clock.deadline + 0.004  # every step ends a little late
        clock.tick(time.now)
        assert clock.deadline == pytest.approx(1000.0 + n / 60, abs=1e-7)

    # No drift: 10,000 ticks at 60 fps take 166.67 s, not 166.67 s plus 10,000 latenesses.
    assert clock.deadline == pytest.approx(1000.0 + 10_000 / 60, abs=1e-6)
    assert clock.ticks == 10_000
    assert clock.overruns == 0


def test_it_catches_up_after_a_late_tick() -> None:
    time = FakeTime()
    clock = TickClock(50, start=time.now)  # a tick every 20 ms
    time.advance(0.050)  # the first step took 50 ms: two more ticks are due already
    clock.tick(time.now)

    assert catch_up(clock, time.now) == 2
    assert clock.wait(time.now) == pytest.approx(0.010)  # back on the original schedule
    assert clock.overruns == 0


def test_it_catches_up_a_stall_shorter_than_max_behind() -> None:
    time = FakeTime()
    clock = TickClock(50, start=time.now, max_behind=0.25)
    time.advance(0.21)  # ten and a half periods
    clock.tick(time.now)

    assert catch_up(clock, time.now) == 10
    assert clock.overruns == 0


def test_it_reanchors_after_a_stall_longer_than_max_behind() -> None:
    time = FakeTime()
    clock = TickClock(50, start=time.now, max_behind=0.25)
    time.advance(1.0)  # the process was paused for a second: 50 ticks behind
    clock.tick(time.now)

    assert clock.overruns == 1
    assert catch_up(clock, time.now) == 1  # one tick now, not 49 at full speed
    assert clock.wait(time.now) == pytest.approx(0.020)


def test_it_counts_each_reanchor_as_an_overrun() -> None:
    time = FakeTime()
    clock = TickClock(50, start=time.now, max_behind=0.25)
    for _ in range(3):
        clock.tick(time.advance(0.5))
        catch_up(clock, time.now)

    assert clock.overruns == 3


@pytest.mark.parametrize("fps", [0, -30, 0.0])
def test_it_needs_a_positive_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps must be positive"):
        TickClock(fps, start=0.0)


async def test_it_steps_every_member_of_a_shared_ticker_once_a_tick_in_order() -> None:
    from games.engine.clock import Ticker

    ticker = Ticker(100)
    steps: list[str] = []
    finished = asyncio.Event()

    def member(name: str, ticks: int) -> Any:
        async def step() -> bool:
            steps.append(name)
            if steps.count(name) == ticks:
                if name == "b":
                    finished.set()
                return False
            return True

        return step

    ticker.add(member("a", 2))
    ticker.add(member("b", 3))
    await asyncio.wait_for(finished.wait(), 2)
    assert steps == ["a", "b", "a", "b", "b"]
    assert len(ticker) == 0


async def test_it_keeps_one_ticker_per_frame_rate_on_a_loop() -> None:
    from games.engine.clock import shared_ticker

    assert shared_ticker(60) is shared_ticker(60)
    assert shared_ticker(60) is not shared_ticker(4)


async def test_it_steps_a_hurried_member_first_at_the_next_tick() -> None:
    from games.engine.clock import Ticker

    ticker = Ticker(100)
    steps: list[str] = []
    done = asyncio.Event()

    def member(name: str) -> Any:
        async def step() -> bool:
            steps.append(name)
            if len(steps) == 5:  # b, in the second tick: c pressed a key
                ticker.hurry(members["c"])
            if len(steps) >= 9:
                done.set()
                return False
            return True

        return step

    members = {name: member(name) for name in "abc"}
    for step in members.values():
        ticker.add(step)
    await asyncio.wait_for(done.wait(), 2)
    assert steps[:9] == ["a", "b", "c", "a", "b", "c", "c", "a", "b"]
