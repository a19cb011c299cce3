"""AI policies' cost per decision: ONNX inference of a Nature-DQN-sized CNN on one core.

The model (1.69 M parameters, 4 x 84 x 84 uint8 in, 6 Q-values out) is built on the spot with
onnx.helper (games/engine/tests/models.py): random weights, so it times the arithmetic, not
play. Reported, in milliseconds: inference alone (``OnnxPolicy.decide``, one intra-op thread),
the same through a one-thread pool as a live loop would hand it off (submit to result), the
Atari preprocessing a policy does on the tick (``Observer.see`` of each Pong frame), how
much of a Python thread's speed is left while inference runs beside it (1.0: onnxruntime
released the GIL throughout), and Pong's emulation speed on one core alone, with the
scripted tracker, and with the CNN deciding every 4 frames (the cost of an AI seat).

`python -m bench policies --decisions 2000`
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import onnx

from games.engine.machines import AtariMachine
from games.engine.observations import Observer
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


def run(decisions: int = 2000) -> dict[str, Any]:
    model = models.nature_dqn(6, dtype=models.UINT8)
    policy = OnnxPolicy(model, observation="atari", n_actions=6, every_k=4)
    parameters = sum(int(np.prod(w.dims)) for w in onnx.load_from_string(model).graph.initializer)
    rng = np.random.default_rng(0)
    observations = rng.integers(0, 256, (16, 4, 84, 84), dtype=np.uint8)
    for observation in observations:  # warm up
        policy.decide(observation)

    picks = iter(range(10**9))
    inference = _timed(lambda: policy.decide(observations[next(picks) % 16]), decisions)
    with ThreadPoolExecutor(max_workers=1) as pool:
        handed = _timed(
            lambda: pool.submit(policy.decide, observations[next(picks) % 16]).result(),
            decisions,
        )

    machine = AtariMachine("ALE/Pong-v5", ATARI)
    machine.start(0, None)
    observer = Observer("atari")
    preprocessing = []
    for step in range(decisions):
        machine.step(step // 30 % 3)
        machine.new_colours()
        began = time.perf_counter()
        observer.see(machine)
        preprocessing.append(time.perf_counter() - began)

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
        "model_parameters": parameters,
        "intra_op_threads": 1,
        "cores": os.cpu_count(),
        "inference": _percentiles(inference),
        "inference_via_thread": _percentiles(handed),
        "atari_preprocessing_per_frame": _percentiles(preprocessing),
        "python_speed_beside_inference": round(sum(shared) / sum(alone), 3),
        "pong_frames_per_cpu_second": {
            "alone": round(alone_fps),
            "pong_tracker": round(tracker_fps),
            "cnn_every_4_frames": round(dqn_fps),
        },
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Nature-DQN-sized CNN, {result['model_parameters'] / 1e6:.2f} M parameters, "
        f"{result['intra_op_threads']} intra-op thread:"
    ]
    for key, label in (
        ("inference", "inference"),
        ("inference_via_thread", "inference handed to a thread"),
        ("atari_preprocessing_per_frame", "Atari preprocessing, per frame"),
    ):
        figures = result[key]
        lines.append(f"  {label:32} p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms")
    lines.append(
        f"  a Python thread beside inference runs at {result['python_speed_beside_inference']:.0%}"
        " of its speed alone"
    )
    fps = result["pong_frames_per_cpu_second"]
    lines.append(
        f"Pong frames per CPU second: alone {fps['alone']}, with the tracker "
        f"{fps['pong_tracker']}, with the CNN every 4 frames {fps['cnn_every_4_frames']}"
    )
    return "\n".join(lines)
