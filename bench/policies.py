"""AI policies' cost per decision and per step: ONNX inference of a DQN-sized CNN on one core.

The model (``--model nature``: Mnih et al. 2015, 1.69 M parameters; ``nips``: 2013, 0.68 M;
4 x 84 x 84 uint8 in, 6 Q-values out, a named batch dimension) is built on the spot with
onnx.helper (games/engine/tests/models.py): random weights, so it times the arithmetic, not
play. Reported, in milliseconds: inference alone (``OnnxPolicy.decide``, one intra-op thread)
and per decision in batches of 2, 4 and 8 (``decide_many``); the same handed to a one-thread
pool (submit to result) and to a ``DecisionThread``; the Atari preprocessing per frame of
Pong, all of it on the tick as before (``Observer.observation`` of each frame) and the tick's
share now (``see``: copies), and the rest made by the later; how much of a Python thread's
speed is left while inference runs beside it (1.0: onnxruntime released the GIL throughout),
and Pong's emulation speed on one core alone, with the scripted tracker, and with the CNN
deciding every 4 frames.

Then the cost of an AI seat in a live loop (``seat_cost``): ``--matches`` Pong machines, each
with a CNN seat deciding every 4 frames (their phases spread), stepped at 60 Hz by one loop
thread as the shared ticker does, in windows that take turns: each way of deciding, and no
AI (the emulators alone). Per step of an AI seat, in µs of CPU: on the loop's thread (beyond
the emulator) and on the other threads (preprocessing, inference, hand-off):

- ``before``: the preprocessing on the tick and a thread-pool task per decision (as before
  this bench's change: ``Policy.observe`` on the tick, ``ThreadPoolExecutor.submit``);
- ``pool``: the preprocessing in the decision's thread, a thread-pool task per decision;
- ``thread``: the same on a ``DecisionThread``, one decision at a time;
- ``batched``: a ``DecisionThread`` running decisions of the model waiting together as one.

`python -m bench policies --decisions 2000 --matches 16 --seconds 3`
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import onnx

from games.engine.deciding import Decider, DecisionThread, Pending
from games.engine.machines import AtariMachine
from games.engine.observations import Observer, Screen
from games.engine.policies import OnnxPolicy, Policy, PongTracker
from games.engine.tests import models

ATARI = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 4),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "mean_ms": round(1000 * statistics.fmean(ordered), 4),
        "min_ms": round(1000 * ordered[0], 4),
    }


def _timed(call: Callable[[], Any], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def _python_speed(seconds: float) -> float:
    """Iterations per second of a pure-Python loop (it needs the GIL all the time)."""
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for _ in range(1000):
            count += 1
    return count / (time.perf_counter() - began)


def _infer_until(policy: OnnxPolicy, observation: np.ndarray, stop: threading.Event) -> None:
    while not stop.is_set():
        policy.decide(observation)


def _frames_per_second(machine: AtariMachine, policy: Policy | None, frames: int) -> float:
    """Pong stepped as fast as it goes, the action from ``policy`` (or a fixed pattern)."""
    machine.start(0, None)
    if policy is not None:
        policy.reset(0)
    began = time.process_time()  # this process's CPU: what a seat costs a core
    for frame in range(frames):
        action = policy.act(machine) if policy is not None else frame // 30 % 3
        outcome = machine.step(action)
        machine.new_colours()
        if outcome.terminated or outcome.truncated:  # ALE skips emulation after game over
            machine.start(frame, None)
            if policy is not None:
                policy.reset(frame)
    return frames / (time.process_time() - began)


class TickDecider:
    """How a seat decided before this bench's change, for ``before``: the whole Atari
    preprocessing on the tick (``observe``), then one pool task per decision."""

    def __init__(self, policy: OnnxPolicy, executor: Executor) -> None:
        self.policy = policy
        self.executor = executor
        self.pending: Future[int] | None = None
        self.decider = self  # as a Decider's seat would be read by _live

    def reset(self, seed: int) -> None:
        self.policy.reset(seed)
        self.pending = None

    def see(self, screen: Screen) -> None:
        observation = self.policy.observe(screen)
        if observation is None or (self.pending is not None and not self.pending.done()):
            return
        self.pending = self.executor.submit(self.policy.decide, observation)

    def take(self) -> tuple[int, bool]:
        if self.pending is None or not self.pending.done():
            return self.policy.action, False
        self.policy.action, self.pending = self.pending.result(), None
        return self.policy.action, True


WAYS = ("none", "before", "pool", "thread", "batched")


def _live(way: str, matches: list[tuple[AtariMachine, OnnxPolicy]], seconds: float) -> dict:
    """``seconds`` of 60 Hz ticks of every match, deciding ``way``; CPU of the loop's thread
    and of the others, per step of a match."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-policy")
    thread = DecisionThread(batch=way == "batched")
    deciders: list[Any] = []
    for _, policy in matches:
        if way == "before":
            deciders.append(TickDecider(policy, pool))
        elif way == "pool":
            deciders.append(Decider(policy, pool))
        elif way in ("thread", "batched"):
            deciders.append(Decider(policy, thread))
        else:
            deciders.append(None)
    for index, ((machine, _), decider) in enumerate(zip(matches, deciders, strict=True)):
        machine.start(index, None)
        if decider is not None:
            decider.reset(index)
            decider.see(machine)
        for _ in range(index % 4):  # decisions due at different ticks, as in a server
            machine.step(0)
            machine.new_colours()
            if decider is not None:
                decider.see(machine)
    period = 1 / 60
    ticks = int(seconds * 60)
    late = 0
    process0, loop0 = time.process_time(), time.thread_time()
    deadline = time.perf_counter()
    for _ in range(ticks):
        deadline += period
        for (machine, _), decider in zip(matches, deciders, strict=True):
            action, _ = decider.take() if decider is not None else (0, False)
            outcome = machine.step(action)
            machine.new_colours()
            if outcome.terminated or outcome.truncated:
                machine.start(0, None)
                if decider is not None:
                    decider.reset(0)
            if decider is not None:
                decider.see(machine)
        wait = deadline - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # the loop's select: the GIL is free between ticks
        else:
            late += 1
    loop = time.thread_time() - loop0
    others = time.process_time() - process0 - loop
    pool.shutdown()
    thread.close()
    steps = ticks * len(matches)
    return {
        "loop_us_per_step": 1e6 * loop / steps,
        "threads_us_per_step": 1e6 * others / steps,
        "late_ticks": late,
        "batches": thread.batches,
        "batched_decisions": thread.batched,
    }


def seat_cost(model: bytes, *, matches: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Per step of an AI seat, by way of deciding: the loop's CPU beyond the emulator's and
    the other threads' CPU, medians over ``rounds`` windows of ``seconds`` taken in turn."""
    seated = [
        (
            AtariMachine("ALE/Pong-v5", ATARI),
            OnnxPolicy(model, observation="atari", n_actions=6, every_k=4),
        )
        for _ in range(matches)
    ]
    samples: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for _ in range(rounds):
        for way in WAYS:
            samples[way].append(_live(way, seated, seconds))

    def median(way: str, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[way])

    alone = median("none", "loop_us_per_step")
    result: dict[str, Any] = {"emulator_us_per_step": round(alone, 1)}
    for way in WAYS[1:]:
        tick = median(way, "loop_us_per_step") - alone
        threads = median(way, "threads_us_per_step") - median("none", "threads_us_per_step")
        batches = sum(s["batches"] for s in samples[way])
        result[way] = {
            "tick_us_per_step": round(tick, 1),
            "thread_us_per_step": round(threads, 1),
            "total_us_per_step": round(tick + threads, 1),
            "late_ticks": sum(s["late_ticks"] for s in samples[way]),
            "decisions_per_run": round(
                (sum(s["batched_decisions"] for s in samples[way]) or batches) / batches, 2
            )
            if batches and way == "batched"
            else 1.0,
        }
    return result


def _handed(submit: Callable[[], Pending], repeats: int) -> dict[str, float]:
    """Latency of submit to result, and the CPU (all threads) per decision."""
    cpu = time.process_time()
    latency = _timed(lambda: submit().result(), repeats)
    return {
        **_percentiles(latency),
        "cpu_ms": round(1000 * (time.process_time() - cpu) / repeats, 4),
    }


def run(
    decisions: int = 2000,
    *,
    model_name: str = "nature",
    matches: int = 16,
    seconds: float = 3.0,
    rounds: int = 2,
) -> dict[str, Any]:
    model = models.ATARI_MODELS[model_name](6, dtype=models.UINT8, batch="N")
    policy = OnnxPolicy(model, observation="atari", n_actions=6, every_k=4)
    parameters = sum(int(np.prod(w.dims)) for w in onnx.load_from_string(model).graph.initializer)
    rng = np.random.default_rng(0)
    observations = rng.integers(0, 256, (16, 4, 84, 84), dtype=np.uint8)
    for observation in observations:  # warm up
        policy.decide(observation)

    picks = iter(range(10**9))
    inference = _timed(lambda: policy.decide(observations[next(picks) % 16]), decisions)
    batched = {}
    for size in (2, 4, 8):
        group = list(observations[:size])
        runs = max(decisions // size, 50)
        samples = _timed(functools.partial(policy.decide_many, group), runs)
        batched[str(size)] = round(1000 * statistics.median(samples) / size, 4)
    with ThreadPoolExecutor(max_workers=1) as pool:
        handed = _handed(
            lambda: pool.submit(policy.decide, observations[next(picks) % 16]), decisions
        )
    thread = DecisionThread()

    def on_thread_submit() -> Pending:
        observation = observations[next(picks) % 16]
        return thread.submit(policy, lambda: observation)

    on_thread = _handed(on_thread_submit, decisions)
    thread.close()

    machine = AtariMachine("ALE/Pong-v5", ATARI)
    machine.start(0, None)
    before, observer = Observer("atari"), Observer("atari")
    on_tick, tick_share, later_share = [], [], []
    for step in range(decisions):
        machine.step(step // 30 % 3)
        machine.new_colours()
        due = step % 4 == 0  # a decision every 4 frames
        began = time.perf_counter()
        before.see(machine)
        if due:
            before.observation(machine)  # the whole preprocessing, as the tick did it
        on_tick.append(time.perf_counter() - began)
        began = time.perf_counter()
        observer.see(machine)
        later = observer.later(machine) if due else None
        tick_share.append(time.perf_counter() - began)
        if later is not None:
            began = time.perf_counter()
            later()
            later_share.extend([(time.perf_counter() - began) / 4] * 4)

    # Windows with and without inference beside, interleaved, so that load from other
    # processes on a shared machine falls on both alike.
    alone: list[float] = []
    shared: list[float] = []
    for _ in range(10):
        alone.append(_python_speed(0.1))
        stop = threading.Event()
        beside = threading.Thread(target=_infer_until, args=(policy, observations[0], stop))
        beside.start()
        shared.append(_python_speed(0.1))
        stop.set()
        beside.join()
    frames = 10 * decisions
    alone_fps = _frames_per_second(machine, None, frames)
    tracker_fps = _frames_per_second(machine, PongTracker(), frames)
    dqn = OnnxPolicy(model, observation="atari", n_actions=6, every_k=4)
    dqn_fps = _frames_per_second(machine, dqn, frames)
    return {
        "model": model_name,
        "model_parameters": parameters,
        "intra_op_threads": 1,
        "cores": os.cpu_count(),
        "inference": _percentiles(inference),
        "inference_per_decision_in_batches_ms": batched,
        "inference_via_pool": handed,
        "inference_via_decision_thread": on_thread,
        "atari_preprocessing_per_frame": {
            "all_on_the_tick": _percentiles(on_tick),
            "tick_share": _percentiles(tick_share),
            "later_share": _percentiles(later_share),
        },
        "python_speed_beside_inference": round(sum(shared) / sum(alone), 3),
        "pong_frames_per_cpu_second": {
            "alone": round(alone_fps),
            "pong_tracker": round(tracker_fps),
            "cnn_every_4_frames": round(dqn_fps),
        },
        "seat_cost": seat_cost(model, matches=matches, seconds=seconds, rounds=rounds),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['model']} CNN, {result['model_parameters'] / 1e6:.2f} M parameters, "
        f"{result['intra_op_threads']} intra-op thread:"
    ]
    for key, label in (
        ("inference", "inference"),
        ("inference_via_pool", "inference handed to a pool"),
        ("inference_via_decision_thread", "inference on a DecisionThread"),
    ):
        figures = result[key]
        cpu = f"  CPU {figures['cpu_ms']:.3f} ms" if "cpu_ms" in figures else ""
        lines.append(
            f"  {label:34} p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms{cpu}"
        )
    batches = ", ".join(
        f"{size}: {ms:.3f}" for size, ms in result["inference_per_decision_in_batches_ms"].items()
    )
    lines.append(f"  inference per decision in a batch of {batches} ms")
    for key, label in (
        ("all_on_the_tick", "Atari preprocessing on the tick (before)"),
        ("tick_share", "  the tick's share now (copies)"),
        ("later_share", "  the later's share now (thread)"),
    ):
        figures = result["atari_preprocessing_per_frame"][key]
        lines.append(f"  {label:42} mean {figures['mean_ms'] * 1000:.1f} µs a frame")
    lines.append(
        f"  a Python thread beside inference runs at {result['python_speed_beside_inference']:.0%}"
        " of its speed alone"
    )
    fps = result["pong_frames_per_cpu_second"]
    lines.append(
        f"Pong frames per CPU second: alone {fps['alone']}, with the tracker "
        f"{fps['pong_tracker']}, with the CNN every 4 frames {fps['cnn_every_4_frames']}"
    )
    cost = result["seat_cost"]
    lines.append(
        f"An AI seat per step, µs of CPU (emulator alone {cost['emulator_us_per_step']} µs):"
    )
    for way in WAYS[1:]:
        figures = cost[way]
        lines.append(
            f"  {way:8} tick {figures['tick_us_per_step']:6.1f}  threads "
            f"{figures['thread_us_per_step']:6.1f}  total {figures['total_us_per_step']:6.1f}"
            f"  (decisions a run {figures['decisions_per_run']}, late ticks "
            f"{figures['late_ticks']})"
        )
    return "\n".join(lines)
