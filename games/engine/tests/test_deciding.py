"""Decisions on a worker thread: fresh when ready, the action held and counted late when not."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from games.engine.deciding import Decider
from games.engine.policies import HeldPolicy, PongTracker, RandomPolicy, built_in
from games.engine.tests.test_policies import PONG_MEANINGS, FakeScreen


class AtOnce(Executor):
    """Runs each decision as it is handed off: the thread as fast as can be."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # as a pool's worker would keep it for result()
            future.set_exception(error)
        return future


class Gated(HeldPolicy):
    """Decides its frame count, once the test opens the gate."""

    def __init__(self, every_k: int) -> None:
        super().__init__(n_actions=100, observation=None, every_k=every_k)
        self.gate = threading.Event()
        self.count = 0

    def decide(self, observation: np.ndarray) -> int:
        self.gate.wait(timeout=10)
        self.count += 1
        return self.count


def test_it_plays_what_the_policy_would_play_in_step_when_decisions_are_on_time() -> None:
    in_step = RandomPolicy(n_actions=6, every_k=3)
    in_step.reset(seed=4)
    expected = [in_step.act(FakeScreen()) for _ in range(30)]
    decider = Decider(RandomPolicy(n_actions=6, every_k=3), AtOnce())
    decider.reset(seed=4)
    played, fresh = [], []
    for _ in range(30):
        decider.see(FakeScreen())
        action, new = decider.take()
        played.append(action)
        fresh.append(new)
    assert played == expected
    assert fresh == [frame % 3 == 0 for frame in range(30)]
    assert (decider.decisions, decider.late, decider.dropped) == (10, 0, 0)


def test_it_holds_the_last_action_and_counts_a_decision_late_until_it_arrives() -> None:
    policy = Gated(every_k=2)
    with ThreadPoolExecutor(max_workers=1) as pool:
        decider = Decider(policy, pool)
        decider.reset(seed=0)
        policy.gate.set()
        decider.see(FakeScreen())
        assert decider.pending is not None
        decider.pending.result()
        assert decider.take() == (1, True)
        policy.gate.clear()
        decider.see(FakeScreen())  # frame 1: not due
        assert decider.take() == (1, False)
        decider.see(FakeScreen())  # frame 2: due, and stuck behind the gate
        assert [decider.take(), decider.take()] == [(1, False), (1, False)]
        decider.see(FakeScreen())  # frame 3
        decider.see(FakeScreen())  # frame 4: due while frame 2's decision still runs
        assert decider.take() == (1, False)
        policy.gate.set()
        decider.pending.result()
        assert decider.take() == (2, True)
    assert (decider.decisions, decider.late, decider.dropped) == (2, 1, 1)


def test_it_raises_the_policys_error_at_the_tick() -> None:
    class Broken(RandomPolicy):
        def decide(self, observation: np.ndarray) -> int:
            raise RuntimeError("the model ran out of memory")

    decider = Decider(Broken(n_actions=6), AtOnce())
    decider.reset(seed=0)
    decider.see(FakeScreen())
    with pytest.raises(RuntimeError, match="out of memory"):
        decider.take()


def test_it_names_the_built_in_policies_for_each_seat() -> None:
    assert isinstance(built_in("random", action_meanings=PONG_MEANINGS), RandomPolicy)
    right = built_in("pong-tracker", action_meanings=PONG_MEANINGS, seat=0, every_k=2)
    left = built_in("pong-tracker", action_meanings=PONG_MEANINGS, seat=1)
    assert isinstance(right, PongTracker) and isinstance(left, PongTracker)
    assert (right.side, right.every_k, left.side) == ("right", 2, "left")
    with pytest.raises(ValueError, match="unknown built-in policy 'dqn'"):
        built_in("dqn", action_meanings=PONG_MEANINGS)
