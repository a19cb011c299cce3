"""Relay frames, or relay joint actions to a lockstep replica? CPU per step of each design.

A seat whose socket is on another web process than its match needs each step's frame there.
Two designs, each measured here for one such seat, per step, through the real Redis channel
layer (``arcade.layers.RedisChannelLayer``) on a private Redis:

- **frames** (what ``play/hub.py`` does): the host sends the frame as the player gets it
  (header and delta of changed words, as ``Viewer.send_frame`` builds it) in a ``relay.frame``
  message; the seat's process receives it (and writes it to the socket, the same in both
  designs, so not counted).
- **replica**: the host sends the step's joint action (a tiny message); the seat's process
  receives it, steps its own ``MultiAtariMachine`` of two-player Pong in lockstep (ALE is
  deterministic) with ``new_colours``, and builds the frame its viewer sends: the changed
  words and the delta, and the header.

Both ends run in this process (two channel layers, as two processes would hold), so its CPU
time is both processes' work; Redis's own CPU is read from /proc and added. Rounds of each
design are taken in turn and the median reported. Acks and key messages from the seat to the
host are the same in both designs and are left out.

`python -m bench relay --steps 3000 --rounds 5`
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from games.engine import codec
from games.engine.multiplayer import MultiAtariMachine, multi_start_state
from play import protocol as p

from .stack import ROOT, cpu_seconds_of

SEED = 1


def _joint_actions(steps: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    held = rng.integers(6, size=(steps // 15 + 1, 2))  # each seat holds an action 15 steps
    return [[int(a) for a in held[step // 15]] for step in range(steps)]


def _header(number: int, frame: np.ndarray) -> bytes:
    return p.FrameHeader(
        kind=p.KIND_DELTA,
        pixel_format=0,
        width=frame.shape[1],
        height=frame.shape[0],
        flags=0,
        frame=number,
        input_seq=0,
        base_frame=number - 1,
        score=0.0,
        lives=0,
    ).pack()


def _viewer_frame(machine: MultiAtariMachine, number: int) -> bytes:
    """What a viewer sends for the step just taken: the header and the changed words."""
    assert machine.diff is not None
    words = codec.sparse(machine.diff, machine.changed)
    return _header(number, machine.frame) + codec.delta_of(words)


def _frames(actions: list[list[int]]) -> list[bytes]:
    """The frames the host relays, made once beforehand (the host makes them for its own
    seat's viewer anyway)."""
    machine = MultiAtariMachine("pong")
    machine.start(SEED, multi_start_state("pong", SEED))
    frames = []
    for number, joint in enumerate(actions, start=1):
        outcome = machine.step(joint)
        machine.new_colours()
        frames.append(_viewer_frame(machine, number))
        if outcome.terminated:
            machine.start(SEED, multi_start_state("pong", SEED))
    return frames


async def _relay_frames(host: Any, seat: Any, channel: str, frames: list[bytes]) -> None:
    for data in frames:
        await host.send(channel, {"type": "relay.frame", "bytes": data})
        await seat.receive(channel)


async def _publish_frames(publisher: Any, subscription: Any, key: str, frames: list[bytes]) -> None:
    for data in frames:
        await publisher.publish(key, data)
        while True:
            message = await subscription.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                break


def _replica(actions: list[list[int]]) -> Callable[[Any, Any, str], Awaitable[None]]:
    machine = MultiAtariMachine("pong")
    start = multi_start_state("pong", SEED)

    async def run(host: Any, seat: Any, channel: str) -> None:
        machine.start(SEED, start)
        for number, joint in enumerate(actions, start=1):
            await host.send(channel, {"type": "relay.step", "step": number, "actions": joint})
            message = await seat.receive(channel)
            outcome = machine.step(message["actions"])
            machine.new_colours()
            _viewer_frame(machine, number)
            if outcome.terminated:
                machine.start(SEED, start)

    return run


async def _measure(redis_pid: int, url: str, steps: int, rounds: int) -> dict[str, list[float]]:
    from arcade.layers import RedisChannelLayer

    host, seat = RedisChannelLayer(hosts=[url]), RedisChannelLayer(hosts=[url])
    channel = await seat.new_channel()
    actions = _joint_actions(steps)
    frames = _frames(actions)
    replica = _replica(actions)
    import redis.asyncio as aioredis

    publisher = aioredis.Redis.from_url(url)
    subscriber = aioredis.Redis.from_url(url)
    subscription = subscriber.pubsub()
    await subscription.subscribe("arcade:relay:bench")
    designs: dict[str, Callable[[], Awaitable[None]]] = {
        "frames": lambda: _relay_frames(host, seat, channel, frames),
        "replica": lambda: replica(host, seat, channel),
        "pubsub": lambda: _publish_frames(publisher, subscription, "arcade:relay:bench", frames),
    }
    for run in designs.values():  # warm up: connections, the replica's first start
        await run()
    samples: dict[str, list[float]] = {name: [] for name in designs}
    redis_share: dict[str, list[float]] = {name: [] for name in designs}
    for _ in range(rounds):
        for name, run in designs.items():
            cpu, redis = time.process_time(), cpu_seconds_of(redis_pid)
            await run()
            redis_used = cpu_seconds_of(redis_pid) - redis
            samples[name].append((time.process_time() - cpu + redis_used) / steps)
            redis_share[name].append(redis_used / steps)
    await host.flush()
    return {
        **{name: values for name, values in samples.items()},
        **{f"{name}_redis": values for name, values in redis_share.items()},
    }


def run(steps: int = 3000, rounds: int = 5) -> dict[str, Any]:
    services = Path(tempfile.mkdtemp(prefix="arcade-relay-"))
    script = str(ROOT / ".ci/services.sh")
    exports = subprocess.run(
        [script, "start", str(services)], check=True, capture_output=True, text=True
    ).stdout
    try:
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in exports.splitlines()
            if line.startswith("export ")
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")
        redis_pid = int((services / "redis.pid").read_text().split()[0])
        figures = asyncio.run(_measure(redis_pid, env["REDIS_URL"], steps, rounds))
    finally:
        subprocess.run([script, "stop", str(services)], check=False, capture_output=True)
        shutil.rmtree(services, ignore_errors=True)
    frames_bytes = statistics.fmean(len(f) for f in _frames(_joint_actions(600)))
    median = {name: statistics.median(values) * 1e6 for name, values in figures.items()}
    return {
        "steps": steps,
        "rounds": rounds,
        "frame_bytes_mean": round(frames_bytes, 1),
        "frames_us_per_step": round(median["frames"], 1),
        "replica_us_per_step": round(median["replica"], 1),
        "frames_redis_us_per_step": round(median["frames_redis"], 1),
        "replica_redis_us_per_step": round(median["replica_redis"], 1),
        "replica_over_frames": round(median["replica"] / median["frames"], 2),
        "pubsub_us_per_step": round(median["pubsub"], 1),
        "pubsub_over_frames": round(median["pubsub"] / median["frames"], 2),
        "rounds_us": {
            name: [round(v * 1e6, 1) for v in values] for name, values in figures.items()
        },
    }


def render(result: dict[str, Any]) -> str:
    frames_redis, replica_redis = (
        result["frames_redis_us_per_step"],
        result["replica_redis_us_per_step"],
    )
    return (
        f"Relay of one remote seat, per step ({result['steps']} steps x {result['rounds']} "
        f"rounds, medians, both processes and Redis):\n"
        f"  frames (a {result['frame_bytes_mean']:.0f}-byte delta frame a step): "
        f"{result['frames_us_per_step']:.1f} us (Redis {frames_redis:.1f})\n"
        f"  lockstep replica (joint action + emulator step + frame diff and encoding): "
        f"{result['replica_us_per_step']:.1f} us (Redis {replica_redis:.1f})\n"
        f"  replica / frames: {result['replica_over_frames']:.2f}"
    )
