"""Agents stepping as fast as they can, for ``bench agents``: windows of steps counted against
the server's CPU seconds, what the agent socket offers, and a step's round trip.

A window runs clients against a ``Server`` (Arcade's stack, or OpenEnv's Atari server), waits
out a warm-up, then counts the steps answered while it reads the server's CPU seconds (and the
recording's, for Arcade) at both ends.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from arcade_client.wire import Screens
from websockets.sync.client import connect as connect_sync

from .agent_client import AgentSocket, decode, encode, ws_url


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, the nearest rank; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def per_core(steps: int, cpu_seconds: float) -> float:
    """Steps per CPU second; 0.0 when no CPU time was seen (a window shorter than a tick)."""
    return steps / cpu_seconds if cpu_seconds > 0 else 0.0


def cpu_delta(before: dict[str, float], after: dict[str, float], roles: tuple[str, ...]) -> float:
    return sum(after.get(role, 0.0) - before.get(role, 0.0) for role in roles)


@dataclass
class Server:
    """Where a client connects, and how the server's CPU (and the rest's) is read."""

    name: str
    url: str  # http://host:port, with user:token@ for OpenEnv's client when it needs one
    cpu: Callable[[], dict[str, float]]
    roles: tuple[str, ...] = ("server",)
    recording_roles: tuple[str, ...] = ()
    token: str = ""


@dataclass
class Tally:
    """What a window's clients saw: steps counted while ``counting``, and every step taken."""

    counting: bool = False
    steps: int = 0
    taken: int = 0  # every step answered, window or not (against the recording's count)
    errors: list[str] = field(default_factory=list)
    binary: bool | None = None  # what the observations came as
    compression: str = ""

    def stepped(self) -> None:
        self.taken += 1
        if self.counting:
            self.steps += 1


@dataclass
class Window:
    server: str
    client: str
    obs_type: str
    frameskip: int
    encoding: str
    sessions: int
    steps: int
    seconds: float
    server_cpu_s: float
    recording_cpu_s: float
    errors: list[str]
    compression: str = ""

    def label(self) -> str:
        return (
            f"{self.server} ({self.client} client, {self.sessions} session(s)), "
            f"{self.obs_type} {self.encoding} frameskip {self.frameskip}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "client": self.client,
            "obs_type": self.obs_type,
            "frameskip": self.frameskip,
            "encoding": self.encoding,
            "sessions": self.sessions,
            "steps": self.steps,
            "steps_per_s": round(self.steps / self.seconds, 1) if self.seconds else 0.0,
            "server_cpu_s": round(self.server_cpu_s, 2),
            "steps_per_core_s": round(per_core(self.steps, self.server_cpu_s), 1),
            "recording_cpu_s": round(self.recording_cpu_s, 2),
            "steps_per_core_s_with_recording": round(
                per_core(self.steps, self.server_cpu_s + self.recording_cpu_s), 1
            ),
            "compression": self.compression,
            "errors": self.errors[:5],
        }


async def _timed(
    server: Server, tally: Tally, *, warmup: float, seconds: float
) -> tuple[float, float, float]:
    """Wait out the warm-up, count for ``seconds``: (seconds, server CPU, recording CPU)."""
    await asyncio.sleep(warmup)
    before = server.cpu()
    began = time.perf_counter()
    tally.counting = True
    await asyncio.sleep(seconds)
    tally.counting = False
    elapsed = time.perf_counter() - began
    after = server.cpu()
    return (
        elapsed,
        cpu_delta(before, after, server.roles),
        cpu_delta(before, after, server.recording_roles),
    )


def options_of(*, obs_type: str, frameskip: int, encoding: str, arcade: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"game_name": "pong", "obs_type": obs_type, "frameskip": frameskip}
    if arcade:
        options.update(agent_name="bench", agent_version="1")
        if encoding in ("binary", "delta"):
            options["encoding"] = encoding
    return options


async def _lean_agent(
    sock: AgentSocket,
    session: str,
    options: dict[str, Any],
    reply: dict[str, Any],
    tally: Tally,
    stop: asyncio.Event,
    seed: int,
) -> None:
    """One session, from its reset's ``reply``, stepping as fast as its answers come, a new game
    each time one ends."""
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        if reply["type"] == "error":
            tally.errors.append(str(reply["data"].get("code")))
            return
        data = reply["data"]
        if tally.binary is None:
            tally.binary = isinstance(data["observation"]["screen"], np.ndarray)
        if data.get("done"):
            reply = await sock.ask("reset", options, session)
            continue
        legal = len(data["observation"]["legal_actions"])
        reply = await sock.ask("step", {"action_id": int(rng.integers(legal))}, session)
        if reply["type"] == "observation":
            tally.stepped()


async def lean_window(
    server: Server,
    *,
    obs_type: str,
    frameskip: int,
    encoding: str,
    sessions: int,
    multiplex: bool,
    warmup: float,
    seconds: float,
) -> tuple[Window, Tally]:
    """``sessions`` sessions of the lean client, all reset first, then stepping as fast as they
    can: the window counts stepping only, not a game's start."""
    arcade = server.name == "arcade"
    options = options_of(obs_type=obs_type, frameskip=frameskip, encoding=encoding, arcade=arcade)
    sockets = [await AgentSocket.open(server.url, server.token)]
    if not multiplex:
        sockets += [await AgentSocket.open(server.url, server.token) for _ in range(sessions - 1)]
    seats = [
        (sockets[0] if multiplex else sockets[i], f"a{i}" if multiplex else "")
        for i in range(sessions)
    ]
    resets = await asyncio.wait_for(
        asyncio.gather(*(sock.ask("reset", options, name) for sock, name in seats)), 300
    )
    tally = Tally()
    stop = asyncio.Event()
    agents = [
        asyncio.create_task(_lean_agent(sock, name, options, reply, tally, stop, seed=i))
        for i, ((sock, name), reply) in enumerate(zip(seats, resets, strict=True))
    ]
    elapsed, server_cpu, recording_cpu = await _timed(server, tally, warmup=warmup, seconds=seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*agents, return_exceptions=True), 30)
    for sock in sockets:
        await sock.close()
    served = "json" if tally.binary is False else encoding
    window = Window(
        server=server.name,
        client="lean",
        obs_type=obs_type,
        frameskip=frameskip,
        encoding=served if arcade else "json",
        sessions=sessions,
        steps=tally.steps,
        seconds=elapsed,
        server_cpu_s=server_cpu,
        recording_cpu_s=recording_cpu,
        errors=tally.errors,
    )
    return window, tally


async def openenv_client_window(
    server: Server, *, obs_type: str, frameskip: int, warmup: float, seconds: float
) -> tuple[Window, Tally]:
    """OpenEnv's own client (one session, JSON), unchanged, against either server."""
    from openenv.core.generic_client import GenericEnvClient

    arcade = server.name == "arcade"
    url = server.url
    if server.token:  # it sets no headers: a URL's user:token@ becomes Basic auth
        url = url.replace("http://", f"http://agent:{server.token}@", 1)
    options = options_of(obs_type=obs_type, frameskip=frameskip, encoding="json", arcade=arcade)
    tally = Tally()
    stop = asyncio.Event()
    ready = asyncio.Event()  # its game started: the window counts stepping only

    async def agent() -> None:
        rng = np.random.default_rng(0)
        async with GenericEnvClient(base_url=url) as env:
            ws: Any = env._ws
            tally.compression = ws.response.headers.get("Sec-WebSocket-Extensions", "") or ""
            result = await env.reset(**options)
            legal = len(result.observation["legal_actions"])
            ready.set()
            while not stop.is_set():
                result = await env.step({"action_id": int(rng.integers(legal))})
                tally.stepped()
                if result.done:
                    result = await env.reset(**options)

    task = asyncio.create_task(agent())
    started = asyncio.create_task(ready.wait())
    await asyncio.wait({task, started}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        task.result()  # it failed before its first step: say why
    elapsed, server_cpu, recording_cpu = await _timed(server, tally, warmup=warmup, seconds=seconds)
    stop.set()
    try:
        await asyncio.wait_for(task, 30)
    except Exception as error:  # a refused step is the figure's to report, not the run's end
        tally.errors.append(f"{type(error).__name__}: {error}"[:200])
    window = Window(
        server=server.name,
        client="openenv",
        obs_type=obs_type,
        frameskip=frameskip,
        encoding="json",
        sessions=1,
        steps=tally.steps,
        seconds=elapsed,
        server_cpu_s=server_cpu,
        recording_cpu_s=recording_cpu,
        errors=tally.errors,
        compression=tally.compression,
    )
    return window, tally


# --- What the server offers, and latency ---------------------------------------------------------


def server_features(url: str, token: str) -> dict[str, bool]:
    """Whether the agent socket sends binary observations (whole, and delta-encoded) and holds
    named sessions."""
    headers = {"Authorization": f"Bearer {token}"}
    features = {"binary": False, "delta": False, "multiplex": False}
    with connect_sync(ws_url(url), additional_headers=headers, max_size=None) as ws:
        ws.send(encode("reset", {"obs_type": "ram", "encoding": "binary", "agent_name": "probe"}))
        features["binary"] = isinstance(ws.recv(timeout=30), bytes)
        ws.send(encode("reset", {"obs_type": "ram", "encoding": "delta", "agent_name": "probe"}))
        delta = ws.recv(timeout=30)
        features["delta"] = isinstance(delta, bytes) and b'"screen_codec"' in delta
        ws.send(encode("reset", {"obs_type": "ram", "agent_name": "probe"}, session="probe"))
        reply = decode(ws.recv(timeout=30))
        features["multiplex"] = (
            reply["type"] == "observation" and reply["data"].get("session") == "probe"
        )
        ws.send(encode("close"))
    return features


def step_latency(url: str, token: str, *, steps: int, encoding: str) -> dict[str, float]:
    """One session, RGB, frameskip 4: each step's round trip over the socket, in ms."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    options = {"game_name": "pong", "obs_type": "rgb", "frameskip": 4, "agent_name": "bench"}
    if encoding in ("binary", "delta"):
        options["encoding"] = encoding
    if not token:  # OpenEnv's server: its options are its variables
        options = {}
    rng = np.random.default_rng(1)
    screens = Screens()
    took: list[float] = []
    with connect_sync(
        ws_url(url), additional_headers=headers, max_size=None, compression=None
    ) as ws:
        ws.send(encode("reset", options))
        reply = decode(ws.recv(timeout=30), screens)
        legal = len(reply["data"]["observation"]["legal_actions"])
        for _ in range(steps):
            message = encode("step", {"action_id": int(rng.integers(legal))})
            began = time.perf_counter()
            ws.send(message)
            reply = decode(ws.recv(timeout=30), screens)
            took.append((time.perf_counter() - began) * 1000)
            if reply["type"] != "observation":
                raise RuntimeError(f"a step was refused: {reply['data']}")
            if reply["data"]["done"]:
                ws.send(encode("reset", options))
                decode(ws.recv(timeout=30), screens)
        ws.send(encode("close"))
    return {
        "p50_ms": round(percentile(took, 0.5), 3),
        "p99_ms": round(percentile(took, 0.99), 3),
        "mean_ms": round(statistics.fmean(took), 3),
    }
