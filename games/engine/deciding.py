"""A policy's decisions on a worker thread, so that a live loop's tick never waits for them.

The loop shows ``see`` each frame right after the step that made it (and the episode's first
frame after start): the policy observes it on the tick (cheap) and, when a decision is due,
hands the observation to a thread. At the next tick ``take`` gives the action to play: the new
decision if it has finished (fresh), else the action held before, and the decision is counted
late; it is played at the first tick after it finishes, unless a newer one has been handed off
by then. A 60 Hz tick leaves a decision about 16 ms; a Nature-DQN-sized CNN takes about 0.4.
"""

from __future__ import annotations

import bisect
import time
from concurrent.futures import Executor, Future, wait

import numpy as np

from .observations import Screen
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


class Decider:
    """Runs one seat's policy: ``see`` after every step, ``take`` at every tick."""

    def __init__(self, policy: Policy, executor: Executor) -> None:
        self.policy = policy
        self.executor = executor
        self.pending: Future[int] | None = None
        self.counted_late = False
        self.decisions = 0  # decisions played
        self.late = 0  # decisions not ready at the tick after their frame
        self.dropped = 0  # observations not decided on: the decision before was still running

    def reset(self, seed: int) -> None:
        """A new episode. A decision still running for the last one is waited for (at most one
        inference) and dropped: it must not draw from a random policy's reseeded generator."""
        if self.pending is not None:
            wait([self.pending])
        self.policy.reset(seed)
        self.pending = None
        self.decisions = self.late = self.dropped = 0

    def see(self, screen: Screen) -> None:
        observation = self.policy.observe(screen)
        if observation is None:
            return
        if self.pending is not None and not self.pending.done():
            self.dropped += 1  # one decision at a time: the running one will be played
            return
        self.pending = self.executor.submit(self._decide, observation)
        self.counted_late = False

    def _decide(self, observation: np.ndarray) -> int:
        began = time.perf_counter()
        action = self.policy.decide(observation)
        DecisionStats.timed(time.perf_counter() - began)
        return action

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
