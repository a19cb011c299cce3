"""Clocks: when a match takes its next step.

A match has one clock. The deadline clock steps at the game's rate in real time (every match of
that rate shares one ticker, ``games/engine/clock.py``); the turn clock steps once a move (a key
press in a turn-based game); the lockstep clock steps as fast as every seat answers (scripts
and tests); the request clock steps once each time a program asks (the agent API), and answers
it when the step is done. The clock only decides *when*: the step itself is the match's.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from games.engine.clock import shared_ticker

R = TypeVar("R")

# One step of the match: why the episode ended, or None to go on.
Step = Callable[[], Awaitable[R | None]]


class Clock(Protocol[R]):
    async def run(self, step: Step[R], idle: Callable[[], None]) -> R:
        """Step until a step returns a reason; ``idle`` is called while no step is due for a
        while (the match cuts its pending chunk then)."""

    def hurry(self) -> None:
        """The seats' joint action changed: a deadline clock may step early (catch-up)."""

    def move(self) -> None:
        """A seat made a move: a turn clock steps once."""


class DeadlineClock(Generic[R]):
    """Real time at ``fps`` steps a second, on the process's shared ticker for that rate."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._hurry: Callable[[], None] | None = None

    async def run(self, step: Step[R], idle: Callable[[], None]) -> R:
        over: asyncio.Future[R] = asyncio.get_running_loop().create_future()

        async def tick() -> bool:
            try:
                reason = await step()
            except Exception as exc:  # this match ends; the others on the ticker go on
                if not over.done():  # not stopped meanwhile
                    over.set_exception(exc)
                return False
            if reason is not None:
                if not over.done():
                    over.set_result(reason)
                return False
            return True

        ticker = shared_ticker(self.fps)
        ticker.add(tick)
        self._hurry = functools.partial(ticker.hurry, tick)
        try:
            return await over
        finally:
            self._hurry = None
            ticker.discard(tick)

    def hurry(self) -> None:
        if self._hurry is not None:
            self._hurry()

    def move(self) -> None:
        pass


class TurnClock(Generic[R]):
    """One step a move; between moves, ``idle`` every ``idle_seconds`` (chunks still leave).

    ``machine_moves``: whether the seat to move plays without a key (an AI at a board game):
    then the clock steps after ``think_seconds``, so that a person sees the board before the
    reply lands on it, instead of waiting for a key.
    """

    def __init__(
        self,
        idle_seconds: float,
        *,
        machine_moves: Callable[[], bool] | None = None,
        think_seconds: float = 0.0,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.machine_moves = machine_moves
        self.think_seconds = think_seconds
        self._turn = asyncio.Event()

    async def run(self, step: Step[R], idle: Callable[[], None]) -> R:
        if self.machine_moves is None:
            self._turn.clear()  # the key that began is not a move
        # (A game of several seats begins by itself after its countdown, not with a key: a
        # move made before this loop first ran was checked and kept by the match, and counts.)
        while True:
            if self.machine_moves is not None and self.machine_moves():
                await asyncio.sleep(self.think_seconds)
                self._turn.clear()  # a key pressed meanwhile was not the mover's
                reason = await step()
                if reason is not None:
                    return reason
                continue
            try:
                await asyncio.wait_for(self._turn.wait(), self.idle_seconds)
            except TimeoutError:
                idle()
                continue
            self._turn.clear()
            reason = await step()
            if reason is not None:
                return reason

    def hurry(self) -> None:
        pass

    def move(self) -> None:
        self._turn.set()


class LockstepClock(Generic[R]):
    """As fast as the seats answer: a step as soon as the one before is done.

    Yields to the event loop between steps, so the seats' answers (a socket's, an agent's)
    and everything else on the loop get their turn.
    """

    async def run(self, step: Step[R], idle: Callable[[], None]) -> R:
        while True:
            reason = await step()
            if reason is not None:
                return reason
            await asyncio.sleep(0)

    def hurry(self) -> None:
        pass

    def move(self) -> None:
        pass


class RequestClock(Generic[R]):
    """One step each time a program asks (``request``), answered when that step is done, with
    why the episode ended (or None); between requests, ``idle`` every ``idle_seconds``.

    The requests wait in a deque, and ``run`` on a future of its own that a request wakes,
    with a timer for ``idle`` only while it waits: ``asyncio.wait_for`` on a queue's ``get``
    made a task, a timer and their callbacks for every step, a tenth of a step's own time.
    """

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._asks: deque[asyncio.Future[R | None]] = deque()
        self._wake: asyncio.Future[None] | None = None  # while ``run`` waits for a request

    def request(self) -> asyncio.Future[R | None]:
        asked: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self._asks.append(asked)
        _wake(self._wake)
        return asked

    async def run(self, step: Step[R], idle: Callable[[], None]) -> R:
        loop = asyncio.get_running_loop()
        while True:
            if not self._asks:
                self._wake = wake = loop.create_future()
                timer = loop.call_later(self.idle_seconds, _wake, wake)
                try:
                    await wake
                finally:
                    timer.cancel()
                    self._wake = None
                if not self._asks:  # woken by the timer: nobody asked for a while
                    idle()
                    continue
            asked = self._asks.popleft()
            try:
                reason = await step()
            except BaseException as exc:
                if not asked.done():
                    asked.set_exception(exc)
                raise
            if not asked.done():
                asked.set_result(reason)
            if reason is not None:
                return reason

    def hurry(self) -> None:
        pass

    def move(self) -> None:
        pass


def _wake(waiting: asyncio.Future[None] | None) -> None:
    if waiting is not None and not waiting.done():
        waiting.set_result(None)
