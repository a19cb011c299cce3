"""A policy's decisions on a worker thread, so that a live loop's tick never waits for them.

The loop shows ``see`` each frame right after the step that made it (and the episode's first
frame after start): the policy copies what it observes on the tick (cheap) and, when a decision
is due, hands a later of the observation to a thread, which makes the observation (the Atari
preprocessing) and decides on it. At the next tick ``take`` gives the action to play: the new
decision if it has finished (fresh), else the action held before, and the decision is counted
late; it is played at the first tick after it finishes, unless a newer one has been handed off
by then. A 60 Hz tick leaves a decision about 16 ms; a Nature-DQN-sized CNN takes about 0.4.

Where decisions run: on the tick for a policy that decides in microseconds (``inline``: the
built-in tracker and random player), else ``DecisionThread``, one thread a process that stays,
fed by a queue; it takes every decision waiting when it wakes (those handed off in one tick,
across matches) and runs those of one model with a named batch dimension as one batch. Any
``Executor`` serves too, one task a decision (tests run them at once).

Decisions handed off on an event loop reach the thread at the end of the loop's turn, all of
them at once, not one by one mid-tick: a thread woken while the tick still holds the GIL is
scheduled onto a core only to find the GIL taken, sleeps again, and after the switch interval
makes the tick stop and hand it over (``bench live --vs-ai``: that waking was a fifth of the
web processes' GIL time against a RAM MLP). Woken as the loop goes to wait on its sockets,
it finds the GIL free.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, Executor, Future
from contextlib import suppress
from queue import Empty, SimpleQueue
from typing import Protocol, cast

import numpy as np

from .observations import Later, Screen
from .policies import Policy

# Upper bounds (ms) of the inference-time buckets of ``DecisionStats``: fine below a 60 Hz
# frame period, where decisions must land, coarse above it.
INFERENCE_BUCKETS_MS = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16.7, 33, 67, float("inf"))


class DecisionStats:
    """Process-wide counts for monitoring (``play/metrics.py``): plain integers bumped once a
    decision, on the worker thread that made it; the live metrics fold them in."""

    decisions = 0
    late = 0  # decisions not ready at the tick after their frame
    # Inference times by INFERENCE_BUCKETS_MS. Two worker threads may bump one bucket at once
    # and lose a count: monitoring tolerates that, the hot path takes no lock.
    inference = [0] * len(INFERENCE_BUCKETS_MS)

    @classmethod
    def timed(cls, seconds: float) -> None:
        cls.decisions += 1
        cls.inference[bisect.bisect_left(INFERENCE_BUCKETS_MS, seconds * 1000)] += 1


class Pending(Protocol):
    """A decision handed off: a ``Future`` (an ``Executor``'s) or a ``Decision``."""

    def done(self) -> bool: ...

    def cancel(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def result(self, timeout: float | None = None) -> int: ...


class Decisions(Protocol):
    """Where a seat's decisions run: the later is called there, then the policy's decide."""

    def submit(self, policy: Policy, observation: Later) -> Pending: ...


class Decision:
    """One decision handed to the ``DecisionThread``, and its outcome: a ``Future`` without its
    Condition. The tick asks ``done`` every frame, a plain attribute here (a Future takes its
    lock to answer); only a reset or a test waits, on a lock the outcome releases."""

    __slots__ = ("_action", "_cancelled", "_claim", "_done", "_finished", "observation", "policy")

    def __init__(self, policy: Policy, observation: Later) -> None:
        self.policy = policy
        self.observation = observation
        # Taken by the thread to run it or by the seat to cancel it: exactly one of them wins.
        self._claim = threading.Lock()
        self._finished = threading.Lock()
        self._finished.acquire()  # released with the outcome
        self._done = False
        self._cancelled = False
        self._action: int | BaseException = 0

    def claim(self) -> bool:
        """For the thread: whether to run it (False: it was cancelled)."""
        return self._claim.acquire(blocking=False)

    def cancel(self) -> bool:
        if self._done:
            return self._cancelled
        if not self._claim.acquire(blocking=False):
            return False  # running: it will finish
        self._cancelled = True
        self._finish(0)
        return True

    def set_result(self, action: int) -> None:
        self._finish(action)

    def set_exception(self, error: BaseException) -> None:
        self._finish(error)

    def _finish(self, outcome: int | BaseException) -> None:
        self._action = outcome
        self._done = True  # after the outcome: a seat that sees it done reads the outcome
        self._finished.release()

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self, timeout: float | None = None) -> int:
        if not self._done:
            if not self._finished.acquire(timeout=-1 if timeout is None else timeout):
                raise TimeoutError("the decision is still running")
            self._finished.release()  # for any other waiter
        if self._cancelled:
            raise CancelledError()
        if isinstance(self._action, BaseException):
            raise self._action
        return self._action


def decide(policy: Policy, observation: Later) -> int:
    """One decision: its observation made, then the policy's choice on it (inference timed)."""
    seen = observation()
    began = time.perf_counter()
    action = policy.decide(seen)
    DecisionStats.timed(time.perf_counter() - began)
    return action


def _decided_now(policy: Policy, observation: Later) -> Decision:
    """An inline policy's decision, made on the tick, finished (an error in it is raised at
    ``take``, as a thread's would be)."""
    decision = Decision(policy, observation)
    decision.claim()
    try:
        decision.set_result(decide(policy, observation))
    except Exception as error:
        decision.set_exception(error)
    return decision


class OnExecutor:
    """Each decision a task of an ``Executor`` (a thread pool; in tests, one that runs it at
    once)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def submit(self, policy: Policy, observation: Later) -> Future[int]:
        return self.executor.submit(decide, policy, observation)


class Batching(Protocol):
    """A policy that can decide for several seats in one run (``OnnxPolicy``): policies with
    the same non-None ``batch_key`` decide together through any one of them."""

    batch_key: object | None

    def decide_many(self, observations: Sequence[np.ndarray]) -> list[int]: ...


class DecisionThread:
    """One thread that stays, fed by a queue: a decision handed off costs a list append and a
    ``Decision``, not a pool's task, and the thread wakes once for all the decisions of a turn of
    the event loop that handed them off (in a live server, those of one tick; off a loop, each
    decision wakes it). Decisions of one model with a named batch dimension run as one batch
    (``batch``); the others one by one, in the order they came. The thread starts with the
    first decision (and again in a forked child, where it is not running)."""

    def __init__(self, *, batch: bool = True, name: str = "arcade-policy") -> None:
        self.batch = batch
        self.name = name
        self.batches = 0  # runs (a batch of one included), for the bench
        self.batched = 0  # decisions made in a batch of more than one
        self.wakes = 0  # times the thread took what was handed off
        self._queue: SimpleQueue[list[Decision] | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Decisions handed off in this turn of each event loop, sent at its end (``_send``).
        self._held: dict[asyncio.AbstractEventLoop, list[Decision]] = {}

    def submit(self, policy: Policy, observation: Later) -> Decision:
        decision = Decision(policy, observation)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a bench, a script): at once
            self._put([decision])
            return decision
        held = self._held.get(loop)
        if held is None:
            held = self._held[loop] = []
            # Runs once the callbacks ready now have run: after the tick's round of matches.
            loop.call_soon(self._send, loop)
        held.append(decision)
        return decision

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        self._put(self._held.pop(loop, []))

    def _put(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        self._queue.put(decisions)
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()

    def _start(self) -> None:
        with self._lock:  # two loops handing off their first decisions at once start one
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop the thread once the decisions handed off are made (benches and tests)."""
        for loop in list(self._held):
            self._send(loop)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            handed = [self._queue.get()]
            while True:
                try:
                    handed.append(self._queue.get_nowait())
                except Empty:
                    break
            self.wakes += 1
            last = handed[-1] is None
            live = [job for jobs in handed if jobs is not None for job in jobs if job.claim()]
            try:
                for group in self._groups(live):
                    self._decide(group)
            except Exception as error:  # a bug here must not stop every seat's decisions
                for job in live:
                    if not job.done():
                        job.set_exception(error)
            if last:
                return

    def _groups(self, jobs: list[Decision]) -> list[list[Decision]]:
        groups: dict[object, list[Decision]] = {}
        for job in jobs:
            key = getattr(job.policy, "batch_key", None) if self.batch else None
            groups.setdefault(job if key is None else key, []).append(job)
        return list(groups.values())

    def _decide(self, group: list[Decision]) -> None:
        self.batches += 1
        if len(group) == 1:
            job = group[0]
            try:
                job.set_result(decide(job.policy, job.observation))
            except Exception as error:  # raised at the seat's tick, by take
                job.set_exception(error)
            return
        self.batched += len(group)
        ready: list[tuple[Decision, np.ndarray]] = []
        for job in group:
            try:
                ready.append((job, job.observation()))
            except Exception as error:
                job.set_exception(error)
        if not ready:
            return
        policy = cast(Batching, ready[0][0].policy)  # a batch_key is a Batching policy's
        try:
            began = time.perf_counter()
            actions = policy.decide_many([seen for _, seen in ready])
            took = time.perf_counter() - began
        except Exception as error:
            for job, _ in ready:
                job.set_exception(error)
            return
        for (job, _), action in zip(ready, actions, strict=True):
            DecisionStats.timed(took)  # what each of them waited for the run
            job.set_result(action)


class Decider:
    """Runs one seat's policy: ``see`` after every step, ``take`` at every tick."""

    def __init__(self, policy: Policy, decisions: Decisions | Executor) -> None:
        self.policy = policy
        self.runner = OnExecutor(decisions) if isinstance(decisions, Executor) else decisions
        self.pending: Pending | None = None
        self.counted_late = False
        self.decisions = 0  # decisions played
        self.late = 0  # decisions not ready at the tick after their frame
        self.dropped = 0  # observations not decided on: the decision before was still running

    def reset(self, seed: int) -> None:
        """A new episode. A decision for the last one is dropped: cancelled if it has not
        started, else waited for (at most one inference), so that it neither draws from a
        random policy's reseeded generator nor applies the last episode's frames after the
        new one's."""
        if self.pending is not None and not self.pending.cancel():
            with suppress(Exception):  # its outcome is dropped, an error too
                self.pending.result()
        self.policy.reset(seed)
        self.pending = None
        self.decisions = self.late = self.dropped = 0

    def see(self, screen: Screen) -> None:
        if not self.policy.see(screen):
            return
        if self.pending is not None and not self.pending.done():
            # One decision at a time: the running one will be played. What this frame's
            # observation is made of stays with the policy for the next decision.
            self.dropped += 1
            return
        if self.policy.inline:
            self.pending = _decided_now(self.policy, self.policy.later(screen))
        else:
            self.pending = self.runner.submit(self.policy, self.policy.later(screen))
        self.counted_late = False

    def take(self) -> tuple[int, bool]:
        """The action to play now, and whether it is a decision made since the last take.

        An error in the policy's ``decide`` is raised here.
        """
        pending = self.pending
        if pending is None:
            return self.policy.action, False
        if not pending.done():
            if not self.counted_late:
                self.late += 1
                DecisionStats.late += 1
                self.counted_late = True
            return self.policy.action, False
        self.pending = None
        self.policy.action = pending.result()
        self.decisions += 1
        return self.policy.action, True
