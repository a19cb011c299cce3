"""Two people play one game from two web processes: Daphne twice, Celery, Redis, PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import numpy as np
import pytest
import websockets

from games.engine.codec import FrameDecoder
from play import hub
from recording.models import EpisodeSeat

from .conftest import Stack
from .test_integration import hosting_process, wait_finalised

pytestmark = pytest.mark.integration


class Page:
    """A scripted page of a multi-seat game: joins the waiting room, plays its seat, acks."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}
        self.texts: list[dict[str, Any]] = []
        self.frames: dict[int, np.ndarray] = {}
        self.decoder = FrameDecoder()
        self.seat: dict[str, Any] = {}
        self.episode = ""
        self.seq = 0

    async def open(self) -> None:
        self.hello = json.loads(await self.ws.recv())
        assert self.hello["type"] == "hello"

    async def join(self) -> None:
        await self.send({"type": "start"})
        self.seat = await self.next_text("seat")

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> tuple[str, Any]:
        message = await asyncio.wait_for(self.ws.recv(), 15)
        if isinstance(message, str):
            data = json.loads(message)
            self.texts.append(data)
            if data["type"] == "episode":
                self.episode = data["episode"]
            return "text", data
        header, frame = self.decoder.decode(message)
        self.frames[header.frame] = frame.copy()
        if header.frame % self.hello["ack_every"] == 0:
            await self.send({"type": "ack", "frame": header.frame})
        return "frame", header

    async def next_text(self, kind: str) -> dict[str, Any]:
        while True:
            what, data = await self.receive()
            if what == "text" and data["type"] == kind:
                return data  # type: ignore[no-any-return]

    async def press(self, *keys: str) -> None:
        self.seq += 1
        now = time.monotonic() * 1000
        await self.send(
            {
                "type": "input",
                "seq": self.seq,
                "keys": list(keys),
                "frame": self.decoder.number,
                "t_shown": now,
                "t_key": now,
                "episode": self.episode,
            }
        )

    async def play_until_over(self, keys: list[str]) -> dict[str, Any]:
        """Hold each of ``keys`` in turn for 40 frames (then nothing) until the game ends."""
        plan = [[key] for key in keys] + [[]]
        while True:
            what, data = await self.receive()
            if what == "text" and data["type"] == "episode_end":
                return data  # type: ignore[no-any-return]
            if what == "frame" and data.frame and data.frame % 40 == 0:
                await self.press(*plan[(data.frame // 40) % len(plan)])


def room_process(episode: str) -> int:
    """The pid of the process hosting the episode's room, while it runs: its address names
    that process's inbox, ``<pid>.<random>``."""
    address = hub.Address.loads(hub.redis().get(hub.EPISODE_KEY.format(episode)))
    assert address is not None, f"episode {episode} has no room"
    return int(address.channel.split(".", 1)[0])


def test_it_records_two_people_playing_pong_from_two_web_processes(
    live_stack: Stack, alice: Any, bob: Any, make_game: Any
) -> None:
    make_game("pong-2p", max_steps=600, start_countdown=0)
    url = live_stack.url.replace("http", "ws") + "/ws/match/pong-2p/"

    def headers(user: Any) -> dict[str, str]:
        return {"Cookie": f"sessionid={live_stack.session_cookie(user)}", "Origin": live_stack.url}

    alice_headers, bob_headers = headers(alice), headers(bob)

    async def play() -> dict[str, Any]:
        async with contextlib.AsyncExitStack() as sockets:
            host = Page(
                await sockets.enter_async_context(
                    websockets.connect(url, additional_headers=alice_headers, max_size=None)
                )
            )
            await host.open()
            host_process = hosting_process(live_stack, host.ws)
            # Bob opens pages until the kernel hands one to the other web process (a few tries;
            # the ones on Alice's process close before they take a seat).
            guest = None
            for _ in range(30):
                ws = await websockets.connect(url, additional_headers=bob_headers, max_size=None)
                if hosting_process(live_stack, ws) != host_process:
                    guest = Page(await sockets.enter_async_context(ws))
                    break
                await ws.close()
            assert guest is not None, "every socket landed on one web process"
            guest_process = hosting_process(live_stack, guest.ws)
            await guest.open()

            await host.join()  # Alice opens the waiting room: it is hosted on her process
            waiting = await host.next_text("lobby")
            await guest.join()
            await host.next_text("episode")
            await guest.next_text("episode")
            where = room_process(host.episode)
            ends = await asyncio.gather(
                host.play_until_over(["ArrowUp", "ArrowDown"]),
                guest.play_until_over(["ArrowDown", "ArrowUp"]),
            )
            return {
                "host": host,
                "guest": guest,
                "processes": (host_process, guest_process),
                "waiting": waiting,
                "where": where,
                "ends": ends,
            }

    played = asyncio.run(play())
    host, guest = played["host"], played["guest"]

    # Two sockets on two processes; the room on Alice's, so Bob's frames came by the relay.
    assert played["processes"][0] != played["processes"][1]
    assert played["where"] == played["processes"][0]
    assert (host.seat["seat"], guest.seat["seat"]) == (0, 1)
    assert (played["waiting"]["state"], played["waiting"]["filled"]) == ("waiting", 1)
    assert host.episode == guest.episode
    assert [end["reason"] for end in played["ends"]] == ["truncated", "truncated"]
    assert [end["steps"] for end in played["ends"]] == [600, 600]
    # Both saw the same game, each on their own screen, to its last frame.
    assert max(host.frames) == max(guest.frames) == 600
    shared = sorted(set(host.frames) & set(guest.frames))
    assert len(shared) > 500
    assert all(np.array_equal(host.frames[n], guest.frames[n]) for n in shared)

    episode = wait_finalised(host.episode, timeout=60)
    assert (episode.status, episode.end_reason, episode.steps) == ("complete", "truncated", 600)
    assert (episode.verification, episode.verified_steps) == ("verified", 600), (
        episode.verification_detail
    )
    assert sorted(episode.transitions.values_list("step", flat=True)) == list(range(600))
    seats = EpisodeSeat.objects.filter(episode=episode).order_by("index")
    assert [(s.index, s.kind, s.user_id, s.from_step) for s in seats] == [
        (0, "human", alice.pk, 0),
        (1, "human", bob.pk, 0),
    ]
    # Each person's keys moved their own paddle: both seats' recorded actions are not all NOOP.
    actions = [row["actions"] for row in episode.transitions.values_list("seats", flat=True) if row]
    assert len(actions) == 600
    assert {a[0] for a in actions} - {0} and {a[1] for a in actions} - {0}
    web_log = (live_stack.logs / "web.log").read_text()
    assert "Traceback" not in web_log, web_log[-4000:]
