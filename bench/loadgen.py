"""Simulated players over real WebSockets, as a separate process so the server is measured alone.

Each player holds a signed-in session, starts a game, changes its held keys every 100 to 300 ms
like a person, and acknowledges frames as the browser does. To stay light it reads only frame
headers, recording arrival times and sizes; one player in `sample_every` decodes every frame and
keeps hashes of a few, which the harness compares with what was recorded.

A multi-seat game (``config["multi"]``) is played on ``ws/match/``: each player joins the
waiting room, gets its seat (and its keys) and plays it; the game starts itself after its
countdown. ``config["urls"]`` pins each player to a web process (a process per port), and
``config["sequential"]`` seats the players one after another, so the bench knows which
process hosts each match. ``config["spectators"]`` (staff cookies) watch the first match from
the middle of the window on; the players' frame intervals are then reported for the halves
without and with them.

Run by bench.live: `python -m bench.loadgen CONFIG.json` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import websockets

from games.engine.codec import FrameDecoder
from play.protocol import FRAME_HEADER

SAMPLED_FRAMES = (60, 120, 240, 480)


@dataclass
class PlayerStats:
    episode: str = ""
    first_frame_ms: float | None = None
    frames: int = 0  # in the measurement window
    bytes: int = 0
    keyframes: list[int] = field(default_factory=list)
    intervals_ms: list[float] = field(default_factory=list)
    interval_ends: list[float] = field(default_factory=list)  # when each interval ended
    latencies_ms: list[float] = field(default_factory=list)
    last_frame: int = 0
    hashes: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _hash(frame: Any) -> str:
    return hashlib.sha1(frame.tobytes()).hexdigest()


def _ws_url(config: dict[str, Any], index: int, path: str) -> str:
    base = config["urls"][index] if config.get("urls") else config["url"]
    return str(base).replace("http", "ws", 1) + path


async def play(
    index: int,
    config: dict[str, Any],
    window: tuple[float, float],
    seated: asyncio.Event | None = None,
    stats: PlayerStats | None = None,
) -> PlayerStats:
    stats = PlayerStats() if stats is None else stats
    rng = random.Random(index)
    multi = bool(config.get("multi"))
    url = _ws_url(config, index, config["path"] + config["slug"] + "/")
    # The page's origin is the process's own address (a pinned process has a port of its own).
    origin = config["urls"][index] if config.get("urls") else config["url"]
    headers = {"Cookie": f"sessionid={config['cookies'][index]}", "Origin": origin}
    sample = index % config["sample_every"] == 0
    decoder = FrameDecoder() if sample else None
    start, end = window
    pending: dict[int, float] = {}
    async with websockets.connect(
        url, additional_headers=headers, max_size=None, compression=None
    ) as ws:
        hello = json.loads(await ws.recv())
        ack_every = hello["ack_every"]
        keys = hello["game"]["keys"]  # a multi-seat game's come with the seat
        t_start = time.perf_counter()
        await ws.send('{"type":"start"}')
        last_arrival = None
        shown = {"frame": 0}

        async def press_keys() -> None:
            # A person presses at any moment, not in step with the frames.
            seq = 0
            while True:
                await asyncio.sleep(rng.uniform(0.1, 0.3))
                now = time.perf_counter()
                if not stats.episode or not keys:
                    continue  # not started yet
                seq += 1
                held = rng.sample(keys, k=rng.choice((0, 1, 1, 2)))
                pending[seq] = now
                message = {
                    "type": "input",
                    "seq": seq,
                    "keys": held,
                    "frame": shown["frame"],
                    "t_shown": now * 1000,
                    "t_key": now * 1000,
                    "episode": stats.episode,
                }
                await ws.send(json.dumps(message))

        presser = asyncio.create_task(press_keys())
        try:
            while True:
                if multi:
                    try:
                        # A multi-seat game pauses when a partner has left: no frame may come.
                        message = await asyncio.wait_for(ws.recv(), 2.0)
                    except TimeoutError:
                        if time.perf_counter() >= end:
                            break
                        continue
                else:  # a timeout a frame would cost the load generator half its CPU again
                    message = await ws.recv()
                now = time.perf_counter()
                if now >= end and stats.episode:
                    break
                if isinstance(message, str):
                    data = json.loads(message)
                    kind = data["type"]
                    if kind == "seat" and "keys" in data:
                        keys = data["keys"]
                        if seated is not None:
                            seated.set()
                        continue
                    if kind == "episode":
                        stats.episode = data["episode"]
                        if not multi:
                            await ws.send('{"type":"begin"}')  # the game waits for the player
                        elif seated is not None:
                            seated.set()
                        continue
                    if kind == "error":
                        stats.errors.append(data["code"])
                        if data["code"] in ("full", "start_failed"):
                            raise RuntimeError(f"player {index}: {data['message']}")
                        continue
                    if kind != "frame":  # palette, pong, episode_end
                        if kind == "episode_end":
                            break
                        continue
                    number, input_seq, size, is_key = (
                        data["frame"],
                        data["input_seq"],
                        len(message),
                        data["frame"] == 0,
                    )
                    if sample and number in SAMPLED_FRAMES:
                        stats.hashes[number] = hashlib.sha1(
                            base64.b64decode(data["image"])
                        ).hexdigest()
                else:
                    header = FRAME_HEADER.unpack_from(message)
                    number, input_seq, size, is_key = (
                        header[5],
                        header[6],
                        len(message),
                        header[0] == 1,
                    )
                    if decoder is not None:
                        _, frame = decoder.decode(message)
                        if number in SAMPLED_FRAMES:
                            stats.hashes[number] = _hash(frame)
                    if number % ack_every == 0 or is_key:
                        await ws.send(f'{{"type":"ack","frame":{number}}}')
                if stats.first_frame_ms is None:
                    stats.first_frame_ms = (now - t_start) * 1000
                stats.last_frame = shown["frame"] = number
                for s in [s for s in pending if s <= input_seq]:
                    sent = pending.pop(s)
                    if sent >= start:  # keys pressed while the game was starting wait for it
                        stats.latencies_ms.append((now - sent) * 1000)
                if start <= now < end:
                    stats.frames += 1
                    stats.bytes += size
                    if is_key:
                        stats.keyframes.append(size)
                    if last_arrival is not None:
                        stats.intervals_ms.append((now - last_arrival) * 1000)
                        stats.interval_ends.append(now)
                last_arrival = now
                if now >= end:
                    break
        finally:
            presser.cancel()
    return stats


@dataclass
class SpectatorStats:
    frames: int = 0
    intervals_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def spectate(
    index: int, config: dict[str, Any], episode: str, until: float
) -> SpectatorStats:
    """A staff member watches ``episode`` until ``until``: frames acknowledged as a browser."""
    stats = SpectatorStats()
    cookie = config["spectators"]["cookies"][index]
    url = _ws_url(config, 0, f"/ws/watch/{episode}/")
    headers = {"Cookie": f"sessionid={cookie}", "Origin": config["url"]}
    async with websockets.connect(
        url, additional_headers=headers, max_size=None, compression=None
    ) as ws:
        ack_every = json.loads(await ws.recv())["ack_every"]
        last = None
        while time.perf_counter() < until:
            try:
                message = await asyncio.wait_for(ws.recv(), until - time.perf_counter())
            except TimeoutError:
                break
            if isinstance(message, str):
                data = json.loads(message)
                if data["type"] == "error":
                    stats.errors.append(data["code"])
                if data["type"] == "episode_end":
                    break
                continue
            now = time.perf_counter()
            header = FRAME_HEADER.unpack_from(message)
            if header[5] % ack_every == 0 or header[0] == 1:
                await ws.send(f'{{"type":"ack","frame":{header[5]}}}')
            stats.frames += 1
            if last is not None:
                stats.intervals_ms.append((now - last) * 1000)
            last = now
    return stats


async def spectators(
    config: dict[str, Any], players: dict[int, PlayerStats], at: float, until: float
) -> list[SpectatorStats | BaseException]:
    """At ``at``, the spectators open the first player's match and watch it to ``until``."""
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    episode = players[0].episode if 0 in players else ""
    if not episode:
        return [RuntimeError("the first player has no episode to watch")]
    count = len(config["spectators"]["cookies"])
    return await asyncio.gather(
        *(spectate(i, config, episode, until) for i in range(count)), return_exceptions=True
    )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def main(config: dict[str, Any]) -> dict[str, Any]:
    sessions = len(config["cookies"])
    loop_start = time.perf_counter()
    window_start = loop_start + sessions * config["ramp"] + config["warmup"]
    window = (window_start, window_start + config["seconds"])
    # The harness reads server CPU over the same window, in wall-clock time.
    print(
        json.dumps(
            {
                "window_wall": [
                    time.time() + window[0] - loop_start,
                    time.time() + window[1] - loop_start,
                ]
            }
        ),
        flush=True,
    )
    # Seats are taken in order when the bench must know who hosts which match: each player
    # is seated before the next one starts (the lobby is first come, first served).
    sequential = bool(config.get("sequential"))
    live: dict[int, PlayerStats] = {}
    watching = None
    split = window[0] + config["seconds"] / 2
    if config.get("spectators"):
        # They connect a moment before the second half, so their keyframes fall outside it.
        watching = asyncio.create_task(spectators(config, live, split - 1.5, window[1]))
    tasks = []
    for index in range(sessions):
        seated = asyncio.Event() if sequential else None
        live[index] = PlayerStats()  # the spectators look for the first player's episode
        tasks.append(asyncio.create_task(play(index, config, window, seated, live[index])))
        if seated is not None:
            await asyncio.wait_for(seated.wait(), 30)
        await asyncio.sleep(config["ramp"])
    results = await asyncio.gather(*tasks, return_exceptions=True)
    players = [r for r in results if isinstance(r, PlayerStats)]
    failures = [repr(r) for r in results if not isinstance(r, PlayerStats)]
    seconds = config["seconds"]
    watched: dict[str, Any] = {}
    if watching is not None:
        watched = _halves(players, await watching, split - 1.5, split, window[1] - split + 1.5)
    fps = [p.frames / seconds for p in players]
    intervals = [i for p in players for i in p.intervals_ms]
    latencies = [v for p in players for v in p.latencies_ms]
    frames = sum(p.frames for p in players)
    keyframes = [k for p in players for k in p.keyframes]
    first = [p.first_frame_ms for p in players if p.first_frame_ms is not None]
    return {
        "sessions": sessions,
        "failures": failures,
        "errors": sorted({e for p in players for e in p.errors}),
        "fps_mean": sum(fps) / len(fps) if fps else 0.0,
        "fps_min": min(fps) if fps else 0.0,
        "frame_interval_p50_ms": percentile(intervals, 50),
        "frame_interval_p99_ms": percentile(intervals, 99),
        "frame_interval_max_ms": max(intervals) if intervals else None,
        "input_latency_p50_ms": percentile(latencies, 50),
        "input_latency_p99_ms": percentile(latencies, 99),
        "input_samples": len(latencies),
        "bytes_per_frame": sum(p.bytes for p in players) / frames if frames else None,
        "keyframe_bytes_max": max(keyframes) if keyframes else None,
        "start_to_first_frame_p50_ms": percentile(first, 50),
        "start_to_first_frame_max_ms": max(first) if first else None,
        "episodes": {p.episode: {"last_frame": p.last_frame, "hashes": p.hashes} for p in players},
        **watched,
    }


def _halves(
    players: list[PlayerStats],
    watching: list[SpectatorStats | BaseException],
    without_end: float,
    with_start: float,
    watched_for: float,
) -> dict[str, Any]:
    """The players' frame intervals without spectators (first half) and with them (second)."""
    before = [
        i
        for p in players
        for i, end in zip(p.intervals_ms, p.interval_ends, strict=True)
        if end < without_end
    ]
    after = [
        i
        for p in players
        for i, end in zip(p.intervals_ms, p.interval_ends, strict=True)
        if end >= with_start
    ]
    watchers = [w for w in watching if isinstance(w, SpectatorStats)]
    watcher_intervals = [i for w in watchers for i in w.intervals_ms]
    return {
        "spectators": len(watchers),
        "spectator_failures": [repr(w) for w in watching if not isinstance(w, SpectatorStats)],
        "spectator_errors": sorted({e for w in watchers for e in w.errors}),
        "spectator_fps_mean": (
            sum(w.frames for w in watchers) / len(watchers) / watched_for if watchers else 0.0
        ),
        "spectator_frame_interval_p99_ms": percentile(watcher_intervals, 99),
        "frame_interval_p99_without_spectators_ms": percentile(before, 99),
        "frame_interval_p99_with_spectators_ms": percentile(after, 99),
        "frame_interval_p50_without_spectators_ms": percentile(before, 50),
        "frame_interval_p50_with_spectators_ms": percentile(after, 50),
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        cfg = json.load(handle)
    result = asyncio.run(main(cfg))
    print(json.dumps(result), flush=True)
