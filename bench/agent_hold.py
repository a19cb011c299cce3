"""How many agent sessions one web process holds, for ``bench agents``.

Sessions are opened one after another, each resetting Pong and then stepping at a modest rate;
the most held is the most open while every session had each of its steps answered in time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .agent_client import AgentSocket
from .agent_load import Server, Tally, options_of, percentile
from .stack import Stack, cpu_seconds_of, cpu_seconds_of_tree

RECENT_SECONDS = 5.0


@dataclass
class Held:
    open: int = 0
    most: int = 0  # the most open while every session had each step answered in time
    failure: str = ""
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (when, ms)
    last_answer: dict[str, float] = field(default_factory=dict)
    rss_mb_at_most: float = 0.0
    pss_mb_at_most: float = 0.0
    cpu_at_most: tuple[float, float] = (0.0, 0.0)  # cores the web used: all of it, its loop
    opening_ms: list[float] = field(default_factory=list)  # each session's reset, answered


def _event_loop_pid(stack: Stack) -> int:
    """The web process's Daphne (``arcade.serve``'s child), whose one thread runs every game."""
    root = stack.roots["web"]
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    except OSError:
        children = []
    return int(children[0]) if children else root


def _cpu_share(seen: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Cores used over the last ``RECENT_SECONDS`` of ``seen``: the web's, its loop's."""
    last = seen[-1]
    first = next((s for s in seen if s[0] >= last[0] - RECENT_SECONDS), seen[0])
    wall = last[0] - first[0]
    if wall <= 0:
        return (0.0, 0.0)
    return (round((last[1] - first[1]) / wall, 2), round((last[2] - first[2]) / wall, 2))


async def _held_session(
    sock: AgentSocket,
    session: str,
    key: str,
    options: dict[str, Any],
    *,
    legal: int,
    seed: int,
    rate: float,
    within: float,
    held: Held,
    stop: asyncio.Event,
    tally: Tally,
) -> None:
    rng = np.random.default_rng(seed)
    next_at = time.monotonic()
    while not stop.is_set():
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        began = time.monotonic()
        try:
            reply = await asyncio.wait_for(
                sock.ask("step", {"action_id": int(rng.integers(legal))}, session), within
            )
        except TimeoutError:
            held.failure = held.failure or f"{key}: a step unanswered after {within} s"
            return
        except ConnectionError as error:
            held.failure = held.failure or f"{key}: {error}"
            return
        if reply["type"] == "error":
            held.failure = held.failure or f"{key}: {reply['data'].get('code')}"
            return
        now = time.monotonic()
        held.latencies.append((now, (now - began) * 1000))
        held.last_answer[key] = now
        tally.stepped()
        if reply["data"]["done"]:
            await sock.ask("reset", options, session)


async def hold_sessions(
    stack: Stack,
    server: Server,
    *,
    ceiling: int,
    rate: float,
    within: float,
    hold: float,
    multiplex: bool,
    binary: bool,
    obs_type: str = "auto",
    per_socket: int = 1,
) -> tuple[dict[str, Any], Tally]:
    """Open sessions one after another, each stepping at ``rate``, until one goes unanswered,
    the server refuses one, or ``ceiling``; then hold them for ``hold`` seconds.

    ``obs_type`` "auto" is RGB when the server sends binary observations, else RAM: RGB as JSON
    would make this client, not the server, what gives out first. Each session has a socket of
    its own, as independent programs do (``per_socket`` > 1 and ``multiplex``: that many share
    one, as a vectorised trainer's would; a session's reset then holds up its neighbours' steps,
    one socket's messages being taken in turn).
    """
    if obs_type == "auto":
        obs_type = "rgb" if binary else "ram"
    options = options_of(
        obs_type=obs_type, frameskip=4, encoding="binary" if binary else "json", arcade=True
    )
    held = Held()
    tally = Tally()
    stop = asyncio.Event()
    sockets: list[AgentSocket] = []
    tasks: list[asyncio.Task[None]] = []
    rss_before = stack.rss_mb("web")
    pss_before = stack.pss_mb("web")
    opened_at: list[float] = []

    def all_answering() -> bool:
        """No failure, and every session answered within a period and the time allowed (or
        opened since)."""
        late = time.monotonic() - (1 / rate + within)
        return not held.failure and all(
            held.last_answer.get(f"s{i}", opened_at[i]) >= late for i in range(held.open)
        )

    loop_pid = _event_loop_pid(stack)
    cpu_seen: list[tuple[float, float, float]] = []  # (when, the web's CPU, its loop's CPU)

    def most_so_far() -> None:
        cpu_seen.append(
            (time.monotonic(), cpu_seconds_of_tree(stack.roots["web"]), cpu_seconds_of(loop_pid))
        )
        if all_answering():
            held.most = held.open
            held.rss_mb_at_most = stack.rss_mb("web")
            held.pss_mb_at_most = stack.pss_mb("web")
            held.cpu_at_most = _cpu_share(cpu_seen)

    for index in range(ceiling):
        if held.failure:
            break
        if not sockets or not multiplex or index % per_socket == 0:
            sockets.append(await AgentSocket.open(server.url, server.token))
        sock = sockets[-1]
        session = f"s{index}" if multiplex else ""
        opening = time.monotonic()
        try:
            reply = await asyncio.wait_for(sock.ask("reset", options, session), within * 10)
        except (TimeoutError, ConnectionError) as error:
            held.failure = f"s{index}: reset {type(error).__name__}"
            break
        if reply["type"] == "error":
            held.failure = f"s{index}: {reply['data'].get('code')}: {reply['data'].get('message')}"
            break
        opened_at.append(time.monotonic())
        held.opening_ms.append((opened_at[-1] - opening) * 1000)
        held.open += 1
        tasks.append(
            asyncio.create_task(
                _held_session(
                    sock,
                    session,
                    f"s{index}",
                    options,
                    legal=len(reply["data"]["observation"]["legal_actions"]),
                    seed=index,
                    rate=rate,
                    within=within,
                    held=held,
                    stop=stop,
                    tally=tally,
                )
            )
        )
        most_so_far()
    began = time.monotonic()
    while not held.failure and time.monotonic() - began < hold:
        await asyncio.sleep(0.5)
        most_so_far()
    ended = time.monotonic()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sock in sockets:
        await sock.close()
    recent = [ms for when, ms in held.latencies if ended - RECENT_SECONDS <= when <= ended]
    result = {
        "max_sessions_one_process": held.most,
        "sessions_ceiling": ceiling,
        "sessions_opened": held.open,
        "sessions_stopped_by": held.failure or f"the ceiling ({ceiling})",
        "sessions_obs_type": obs_type,
        "sessions_step_rate": rate,
        # The steps of the last few seconds, and the web's CPU then: the process's event loop
        # near one core is what gave out, not its memory.
        "sessions_step_p50_ms": round(percentile(recent, 0.5), 2),
        "sessions_step_p99_ms": round(percentile(recent, 0.99), 2),
        "web_cpu_share_at_most": held.cpu_at_most[0],
        "web_loop_cpu_share_at_most": held.cpu_at_most[1],
        "session_open_p50_ms": round(percentile(held.opening_ms, 0.5), 1),
        "session_open_p99_ms": round(percentile(held.opening_ms, 0.99), 1),
        "web_rss_mb_before": round(rss_before, 1),
        "web_rss_mb_at_most": round(held.rss_mb_at_most, 1),
        "web_pss_mb_before": round(pss_before, 1),
        "web_pss_mb_at_most": round(held.pss_mb_at_most, 1),
        # PSS: the web process and its children (hosted machines) each page counted once.
        "memory_mb_per_session": round((held.pss_mb_at_most - pss_before) / held.most, 2)
        if held.most and held.pss_mb_at_most
        else 0.0,
        "rss_mb_per_session": round((held.rss_mb_at_most - rss_before) / held.most, 2)
        if held.most and held.rss_mb_at_most
        else 0.0,
    }
    return result, tally


async def openenv_second_session(server: Server) -> str:
    """What OpenEnv's server answers a second client while one session is open: its error's
    code (it refuses as the socket opens), or "served"."""
    first = await AgentSocket.open(server.url, "")
    await first.ask("reset", {})
    second = await AgentSocket.open(server.url, "")
    try:
        reply = await asyncio.wait_for(second.ask("reset", {}), 30)
    except ConnectionError:
        refused = [r for r in second.unasked if r.get("type") == "error"]
        reply = refused[0] if refused else {"type": "error", "data": {"code": "closed"}}
    finally:
        await second.close()
        await first.close()
    if reply["type"] == "error":
        return str(reply["data"].get("code", "error"))
    return "served"
