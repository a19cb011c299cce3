"""End to end over a real WebSocket: Daphne, a Celery worker, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from accounts.models import User
from games.engine.codec import FrameDecoder
from play import protocol as p
from recording import chunkfile
from recording.models import Episode

from .conftest import Stack

pytestmark = pytest.mark.integration


async def play_over_websocket(stack: Stack, cookie: str, slug: str, frames: int) -> dict[str, Any]:
    """Play like a person: hold keys for a while, change them, ack frames; then close."""
    url = stack.url.replace("http", "ws") + f"/ws/play/{slug}/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": stack.url}
    decoder = FrameDecoder()
    seen: dict[int, np.ndarray] = {}
    result: dict[str, Any] = {"ended": None}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "start"}))
        await ws.send(json.dumps({"type": "begin"}))  # the player is ready at once
        seq = 0
        plan = [["ArrowRight"], [], ["ArrowLeft", "Space"], ["Space"], []]
        while True:
            message = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(message, str):
                data = json.loads(message)
                if data["type"] == "episode":
                    result["episode"] = data["episode"]
                elif data["type"] == "episode_end":
                    result["ended"] = data
                    break
                continue
            header, frame = decoder.decode(message)
            seen[header.frame] = frame.copy()
            if header.frame % hello["ack_every"] == 0:
                await ws.send(json.dumps({"type": "ack", "frame": header.frame}))
            if header.frame and header.frame % 45 == 0:
                seq += 1
                await ws.send(
                    json.dumps(
                        {
                            "type": "input",
                            "seq": seq,
                            "keys": plan[seq % len(plan)],
                            "frame": header.frame,
                            "t_shown": time.monotonic() * 1000,
                            "t_key": time.monotonic() * 1000,
                            "episode": result["episode"],
                        }
                    )
                )
            if header.flags & p.FLAG_EPISODE_OVER:
                continue  # episode_end follows
            if header.frame >= frames:
                break
    result["frames"] = seen
    return result


def wait_finalised(episode_id: str, timeout: float = 30) -> Episode:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        episode = Episode.objects.get(pk=episode_id)
        if (
            episode.status in (Episode.Status.COMPLETE, Episode.Status.INCOMPLETE)
            and episode.verification != Episode.Verification.PENDING  # finalisation's last word
        ):
            return episode
        time.sleep(0.2)
    raise AssertionError(
        f"episode {episode_id} still {episode.status}, replay {episode.verification}, "
        f"after {timeout} s"
    )


def stored_frames(episode: Episode) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    previous = None
    for chunk in episode.chunks.order_by("index"):
        with chunk.file.open("rb") as handle:
            _, decoded = chunkfile.decode(handle.read(), previous)
        previous = decoded[-1]
        frames.extend(decoded)
    return frames


def test_it_records_every_step_of_an_abandoned_episode(
    live_stack: Stack, alice: Any, pong: Any
) -> None:
    cookie = live_stack.session_cookie(alice)
    played = asyncio.run(play_over_websocket(live_stack, cookie, "pong", frames=300))

    episode = wait_finalised(played["episode"])
    assert (episode.status, episode.end_reason) == ("complete", "abandoned"), live_stack.tail()
    assert episode.steps >= 300
    assert episode.transitions.count() == episode.steps
    assert sorted(episode.transitions.values_list("step", flat=True)) == list(range(episode.steps))
    assert episode.chunks_expected is not None
    assert episode.chunks.count() == episode.chunks_expected >= 5
    frames = stored_frames(episode)
    assert len(frames) == episode.steps + 1
    for number, frame in played["frames"].items():
        assert np.array_equal(frames[number], frame), f"frame {number} differs"
    assert episode.transitions.filter(input_seq__gt=0).exists()
    assert episode.versions["ale-py"] and episode.env_spec["env_id"] == "ALE/Pong-v5"
    assert episode.verification == "verified", episode.verification_detail


def test_it_finalises_an_episode_that_reaches_its_step_limit(
    live_stack: Stack, alice: Any, make_game: Any
) -> None:
    make_game("freeway", max_steps=240)
    cookie = live_stack.session_cookie(alice)
    played = asyncio.run(play_over_websocket(live_stack, cookie, "freeway", frames=10**6))

    assert played["ended"] == {
        "type": "episode_end",
        "episode": played["episode"],
        "reason": "truncated",
        "steps": 240,
        "score": played["ended"]["score"],
    }
    episode = wait_finalised(played["episode"])
    assert (episode.status, episode.end_reason, episode.steps) == ("complete", "truncated", 240)
    assert episode.transitions.count() == 240
    assert episode.transitions.get(step=239).truncated
    assert len(stored_frames(episode)) == 241
    assert (episode.verification, episode.verified_steps) == ("verified", 240)


@pytest.mark.stack_env(ARCADE_RECONNECT_GRACE_SECONDS="20", ARCADE_DRAIN_SECONDS="1")
def test_it_ends_live_games_cleanly_when_the_web_role_shuts_down(
    live_stack: Stack, alice: Any, pong: Any
) -> None:
    cookie = live_stack.session_cookie(alice)
    url = live_stack.url.replace("http", "ws") + "/ws/play/pong/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": live_stack.url}

    async def play_until_the_server_stops() -> None:
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "start"}))
            await ws.send(json.dumps({"type": "begin"}))
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    message = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(message, str):
                        continue
                    frame = p.FrameHeader.unpack(message).frame
                    if frame % 12 == 0:
                        await ws.send(json.dumps({"type": "ack", "frame": frame}))
                    if frame == 200:
                        live_stack.processes["web"].send_signal(signal.SIGTERM)

    asyncio.run(play_until_the_server_stops())

    assert live_stack.processes["web"].wait(timeout=30) == 0, live_stack.tail()
    # Ended by the web process itself as it stopped, not found later by the watchdog.
    episode = wait_finalised(str(Episode.objects.get(user=alice).pk))
    assert (episode.status, episode.end_reason) == ("complete", "abandoned"), live_stack.tail()
    assert episode.steps >= 200
    assert episode.transitions.count() == episode.steps
    assert len(stored_frames(episode)) == episode.steps + 1


def test_it_records_six_players_at_once_with_any_worker_taking_any_task(
    live_stack: Stack, pong: Any
) -> None:
    # Six people: one person's second tab would take over their first tab's game.
    players = [User.objects.create_user(f"player{n}@example.org", "a-password-1") for n in range(6)]
    cookies = [live_stack.session_cookie(user) for user in players]

    async def many() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(play_over_websocket(live_stack, c, "pong", frames=240) for c in cookies)
        )

    played = asyncio.run(many())

    for result in played:
        episode = wait_finalised(result["episode"])
        assert (episode.status, episode.verification) == ("complete", "verified")
        assert episode.transitions.count() == episode.steps >= 240
    # Both workers stored chunks: nothing ties a game to one worker.
    for name in ("worker", "worker2"):
        log = (live_stack.logs / f"{name}.log").read_text()
        assert "recording.tasks.store_chunks" in log, f"{name} stored nothing"


def hosting_process(stack: Stack, ws: Any) -> int:
    """The pid of the web process that accepted this socket (they share one port)."""
    port = ws.local_address[1]
    # The server's end of the connection is the one whose remote port is our local port.
    inodes = {
        f"socket:[{fields[9]}]"
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if int(fields[2].rsplit(":", 1)[1], 16) == port
    }
    web = stack.processes["web"].pid
    for child in Path(f"/proc/{web}/task/{web}/children").read_text().split():
        for fd in Path(f"/proc/{child}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return int(child)
    raise AssertionError(f"no web process holds the socket from port {port}")


def test_it_tells_the_players_page_on_the_other_web_process_that_its_episode_is_saved(
    live_stack: Stack, alice: Any, pong: Any
) -> None:
    cookie = live_stack.session_cookie(alice)
    url = live_stack.url.replace("http", "ws") + "/ws/play/pong/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": live_stack.url}

    async def notices() -> tuple[int, int, str, dict[str, Any], dict[str, Any]]:
        async with contextlib.AsyncExitStack() as sockets:
            # Pages of one player, one on each web process: open them until the kernel has
            # handed one to each (at most a few tries; the extra ones just close).
            pages: dict[int, Any] = {}
            for _ in range(30):
                ws = await sockets.enter_async_context(
                    websockets.connect(url, additional_headers=headers)
                )
                await ws.recv()  # hello
                pages.setdefault(hosting_process(live_stack, ws), ws)
                if len(pages) == 2:
                    break
            assert len(pages) == 2, "every socket landed on one web process"
            (here, player), (there, other_page) = pages.items()
            await player.send(json.dumps({"type": "start"}))
            await player.send(json.dumps({"type": "begin"}))
            first, saved = "", None
            while saved is None:
                message = await asyncio.wait_for(player.recv(), 30)
                if isinstance(message, bytes):
                    frame = p.FrameHeader.unpack(message).frame
                    if frame % 12 == 0:
                        await player.send(json.dumps({"type": "ack", "frame": frame}))
                    if frame == 120 and first:
                        await player.send(json.dumps({"type": "start"}))  # ends the first
                        await player.send(json.dumps({"type": "begin"}))
                    continue
                data = json.loads(message)
                if data["type"] == "episode" and not first:
                    first = data["episode"]
                elif data["type"] == "episode_saved":
                    saved = data
            while True:
                data = json.loads(await asyncio.wait_for(other_page.recv(), 30))
                if data["type"] == "episode_saved":
                    return here, there, first, saved, data

    here, there, first, saved, seen_there = asyncio.run(notices())

    assert here != there
    episode = wait_finalised(first)
    expected = {
        "type": "episode_saved",
        "episode": first,
        "status": "complete",
        "verification": "verified",
        "steps": episode.steps,
    }
    # Sent by a worker process, through Redis, to both web processes holding the pages.
    assert saved == expected, live_stack.tail()
    assert seen_there == expected


def test_it_logs_no_traceback_for_what_clients_do_wrong(
    live_stack: Stack, alice: Any, pong: Any
) -> None:
    cookie = live_stack.session_cookie(alice)
    headers = {"Cookie": f"sessionid={cookie}", "Origin": live_stack.url}
    base = live_stack.url.replace("http", "ws")

    async def misbehave() -> tuple[int | None, list[str]]:
        async with websockets.connect(base + "/ws/no/such/path/", additional_headers=headers) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            bad_path = ws.close_code
        codes: list[str] = []
        ws = await websockets.connect(base + "/ws/play/pong/", additional_headers=headers)
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "start"}))
        await ws.send(json.dumps({"type": "begin"}))
        for bad in ("[" * 3000 + "]" * 1000, json.dumps({"type": "resume", "episode": "a b/é"})):
            await ws.send(bad)
        frames = 0
        while len(codes) < 2 or frames < 90:
            message = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(message, bytes):
                frames += 1
            elif json.loads(message)["type"] == "error":
                codes.append(json.loads(message)["code"])
        ws.transport.abort()  # the tab closes mid-game, frames still on their way
        await asyncio.sleep(2)
        return bad_path, codes

    bad_path, codes = asyncio.run(misbehave())
    assert bad_path == p.CLOSE_NOT_FOUND
    assert sorted(codes) == ["bad_field", "bad_message"]
    web_log = (live_stack.logs / "web.log").read_text()
    assert "Traceback" not in web_log, web_log[-4000:]
    assert " ERROR " not in web_log, web_log[-4000:]
