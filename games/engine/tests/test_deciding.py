"""Decisions on a worker thread: fresh when ready, the action held and counted late when not."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from games.engine.deciding import Decider, DecisionThread
from games.engine.observations import Observer, Ready
from games.engine.palette import Palette
from games.engine.policies import HeldPolicy, OnnxPolicy, PongTracker, RandomPolicy, built_in
from games.engine.tests import models
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


class Refusing(Executor):
    """A place decisions must not go."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise AssertionError("an inline policy's decision went to a thread")


def test_a_policy_that_decides_in_microseconds_decides_on_the_tick() -> None:
    tracker = PongTracker(side="left", action_meanings=PONG_MEANINGS, every_k=2)
    assert tracker.inline and RandomPolicy(n_actions=6).inline
    decider = Decider(tracker, Refusing())
    decider.reset(seed=0)
    took = []
    for _ in range(4):
        decider.see(FakeScreen())  # RAM all zero: no ball in play, so the tracker serves
        took.append(decider.take())
    fire = PONG_MEANINGS.index("FIRE")
    assert took == [(fire, True), (fire, False), (fire, True), (fire, False)]
    assert (decider.decisions, decider.late) == (2, 0)


def test_inference_is_never_inline() -> None:
    model = models.linear(6, [1, 128])
    assert not OnnxPolicy(model, observation="ram", n_actions=6).inline


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


# --- the observation made in the decision's thread -------------------------------------------


class Numbered:
    """A screen whose every pixel is the number of the frame (its gray too)."""

    def __init__(self) -> None:
        self.palette = Palette()
        self.palette.rgb[:] = np.arange(256, dtype=np.uint8)[:, None]
        self.frame = np.zeros((210, 160), np.uint8)

    def show(self, number: int) -> Numbered:
        self.frame[:] = number % 256
        return self


class Recording(HeldPolicy):
    """Decides 0, and keeps what it saw; waits for its gate when one is closed."""

    def __init__(self, every_k: int = 4) -> None:
        super().__init__(n_actions=6, observation="atari", every_k=every_k)
        self.gate = threading.Event()
        self.gate.set()
        self.seen: list[np.ndarray] = []

    def decide(self, observation: np.ndarray) -> int:
        self.gate.wait(timeout=10)
        self.seen.append(observation)
        return 0


def test_it_decides_on_every_group_in_order_when_a_decision_is_dropped() -> None:
    reference = Observer("atari")
    policy = Recording()
    with ThreadPoolExecutor(max_workers=1) as pool:
        decider = Decider(policy, pool)
        decider.reset(seed=0)
        screen = Numbered()
        expected = []
        for frame in range(13):
            reference.see(screen.show(frame + 1))
            if frame == 0:
                policy.gate.clear()  # frame 0's decision runs until frame 4's is due
            decider.see(screen)
            if frame == 4:
                assert decider.dropped == 1
                policy.gate.set()
                assert decider.pending is not None
                decider.pending.result()
            if frame == 8:  # frame 12's decision is due only once this one has finished
                assert decider.pending is not None
                decider.pending.result()
            if frame in (0, 8, 12):
                expected.append(reference.observation(screen))
        assert decider.pending is not None
        decider.pending.result()
    assert len(policy.seen) == 3
    for seen, wanted in zip(policy.seen, expected, strict=True):
        assert np.array_equal(seen, wanted)
    assert policy.seen[1][:, 0, 0].tolist() == [1, 1, 5, 9]  # frame 4's group kept its place


def test_it_never_shows_a_decision_the_frames_of_the_episode_before_its_reset() -> None:
    blocker, policy = Recording(), Recording()
    thread = DecisionThread()
    try:
        blocker.reset(0)
        blocker.gate.clear()
        screen = Numbered()
        blocker.see(screen.show(0))
        busy = thread.submit(blocker, blocker.later(screen))  # the thread is held here
        decider = Decider(policy, thread)
        decider.reset(seed=0)
        decider.see(screen.show(7))
        stale = decider.pending
        decider.reset(seed=1)
        assert stale is not None and stale.cancelled()
        decider.see(screen.show(9))
        blocker.gate.set()
        busy.result()
        assert decider.pending is not None
        decider.pending.result()
    finally:
        thread.close()
    assert [seen[:, 0, 0].tolist() for seen in policy.seen] == [[9, 9, 9, 9]]


# --- decisions on one thread, batched ---------------------------------------------------------


def _blocked(thread: DecisionThread) -> threading.Event:
    """Holds ``thread`` in a decision until the event is set: what is handed off meanwhile
    waits, and is taken all at once."""
    gate = threading.Event()

    def held() -> np.ndarray:
        gate.wait(timeout=10)
        return np.empty(0, np.uint8)

    thread.submit(RandomPolicy(n_actions=6), held)
    return gate


@pytest.mark.parametrize("batch", ["N", 1])
def test_it_decides_as_one_by_one_whether_or_not_it_batches(batch: str | int) -> None:
    model = models.nips_dqn(6, dtype=models.UINT8, batch=batch)
    policies = [OnnxPolicy(model, observation="atari", n_actions=6) for _ in range(6)]
    observations = []
    for k in range(len(policies)):  # one half of one frame lit: the random CNN tells them apart
        observation = np.zeros((4, 84, 84), np.uint8)
        observation[k % 4, k // 4 * 42 : k // 4 * 42 + 42] = 255
        observations.append(observation)
    alone = [p.decide(o) for p, o in zip(policies, observations, strict=True)]
    thread = DecisionThread()
    try:
        gate = _blocked(thread)
        futures = [thread.submit(p, Ready(o)) for p, o in zip(policies, observations, strict=True)]
        gate.set()
        together = [future.result() for future in futures]
    finally:
        thread.close()
    assert together == alone
    assert len(set(alone)) > 1  # the observations tell the actions apart
    assert thread.batched == (6 if batch == "N" else 0)


def test_it_shares_a_session_between_policies_of_one_model_and_batches_only_a_named_batch() -> None:
    named = models.nips_dqn(6, dtype=models.UINT8, batch="N")
    first, second = (OnnxPolicy(named, observation="atari", n_actions=6) for _ in range(2))
    assert first.session is second.session and first.batch_key is not None
    fixed = OnnxPolicy(models.nips_dqn(6, batch=1), observation="atari", n_actions=6)
    unbatched = OnnxPolicy(models.linear(6, [128]), observation="ram", n_actions=6)
    assert fixed.batch_key is None and unbatched.batch_key is None
    ram = np.arange(128, dtype=np.uint8)
    assert unbatched.decide_many([ram, ram[::-1]]) == [
        unbatched.decide(ram),
        unbatched.decide(ram[::-1]),
    ]


async def test_a_loop_turn_hands_its_decisions_to_the_thread_together_when_it_ends() -> None:
    thread = DecisionThread()
    try:
        pending = [
            thread.submit(RandomPolicy(n_actions=6), Ready(np.empty(0, np.uint8))) for _ in range(3)
        ]
        time.sleep(0.05)  # the turn (a tick's round of matches) goes on: nothing woke the thread
        assert not any(decision.done() for decision in pending)
        await asyncio.sleep(0)  # the turn ends
        assert all(decision.result(timeout=10) in range(6) for decision in pending)
        assert thread.wakes == 1
    finally:
        thread.close()


def test_it_reports_a_failed_decision_to_its_seat_and_goes_on() -> None:
    class Broken(RandomPolicy):
        def decide(self, observation: np.ndarray) -> int:
            raise RuntimeError("the model ran out of memory")

    thread = DecisionThread()
    try:
        failed = thread.submit(Broken(n_actions=6), Ready(np.empty(0, np.uint8)))
        with pytest.raises(RuntimeError, match="out of memory"):
            failed.result(timeout=10)
        assert thread.submit(RandomPolicy(n_actions=6), Ready(np.empty(0))).result(10) in range(6)
    finally:
        thread.close()
