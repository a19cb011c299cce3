"""The naive baseline, driven through the benchmark's ASGI app with WebsocketCommunicator."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.storage import default_storage
from PIL import Image

from play import protocol as p
from play.tests.sockets import closed_with
from play.tests.sockets import connect as connect_to

from .asgi import application
from .naive import count_recorded

pytestmark = [pytest.mark.django_db(transaction=True)]


async def connect(slug: str, user: Any = None, route: str = "naive") -> WebsocketCommunicator:
    return await connect_to(slug, user, app=application, route=route)


def decode(frame: dict[str, Any]) -> np.ndarray:
    image = Image.open(io.BytesIO(base64.b64decode(frame["image"])))
    assert image.format == "JPEG"
    return np.asarray(image)


class Player:
    """A scripted client of the naive socket: every frame is a JSON text message."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.hello: dict[str, Any] = {}
        self.episode = ""
        self.seq = 0
        self.frames: list[dict[str, Any]] = []

    async def open(self) -> None:
        connected, _ = await self.ws.connect()
        assert connected
        self.hello = await self.ws.receive_json_from(timeout=5)
        assert self.hello["type"] == "hello"

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_to(text_data=json.dumps(message))

    async def start(self) -> None:
        await self.send({"type": "start"})
        self.episode = (await self.next("episode"))["episode"]

    async def press(self, *keys: str) -> None:
        self.seq += 1
        await self.send(
            {
                "type": "input",
                "seq": self.seq,
                "keys": list(keys),
                "frame": self.frames[-1]["frame"] if self.frames else 0,
                "t_shown": 1000.0,
                "t_key": 1001.5,
            }
        )

    async def next(self, kind: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = await self.ws.receive_json_from(timeout=10)
            if message["type"] == "frame":
                self.frames.append(message)
            if message["type"] == kind:
                return message

    async def play(self, frames: int) -> dict[str, Any]:
        while True:
            frame = await self.next("frame")
            if frame["frame"] >= frames or frame["flags"] & p.FLAG_EPISODE_OVER:
                return frame

    async def leave(self) -> None:
        """Disconnect, then keep the frames that were already on their way."""
        await self.ws.disconnect()
        queue = self.ws.output_queue
        while not queue.empty():
            message = queue.get_nowait()
            if message["type"] == "websocket.send" and message.get("text"):
                data = json.loads(message["text"])
                if data["type"] == "frame":
                    self.frames.append(data)


async def test_it_refuses_anonymous_players(pong: Any) -> None:
    assert await closed_with(await connect("pong")) == p.CLOSE_UNAUTHENTICATED


async def test_it_refuses_unknown_games(alice: Any) -> None:
    assert await closed_with(await connect("no-such-game", alice)) == p.CLOSE_NOT_FOUND


async def test_it_greets_like_arcade_but_with_jpeg_frames(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    game = player.hello["game"]
    assert (game["slug"], game["fps"], game["turn_based"]) == ("pong", 60, False)
    assert (game["width"], game["height"], game["pixel_format"]) == (160, 210, "jpeg")
    assert game["keys"] == pong.keymap().codes
    assert (player.hello["protocol"], player.hello["ack_every"], player.hello["window"]) == (
        1,
        4,
        12,
    )
    await player.ws.disconnect()


async def test_it_streams_json_frames_of_base64_jpeg_screens(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.send({"type": "start"})
    episode = await player.next("episode")
    assert (episode["width"], episode["height"], episode["pixel_format"]) == (160, 210, "jpeg")
    assert episode["palette"] is None
    last = await player.play(frames=20)
    assert [f["frame"] for f in player.frames] == list(range(21))
    assert last["flags"] == 0 and last["input_seq"] == 0
    for frame in (player.frames[0], last):
        pixels = decode(frame)
        assert pixels.shape == (210, 160, 3) and pixels.dtype == np.uint8
    await player.ws.disconnect()


async def test_it_echoes_the_input_in_effect_in_each_frame(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=5)
    await player.press("ArrowRight")
    while (frame := await player.next("frame"))["input_seq"] != 1:
        pass
    await player.press()
    while (frame := await player.next("frame"))["input_seq"] != 2:
        pass
    assert frame["frame"] > 6
    seqs = [f["input_seq"] for f in player.frames]
    assert seqs == sorted(seqs) and {0, 1, 2} <= set(seqs)
    await player.ws.disconnect()


async def test_it_stores_every_step_as_its_own_png_and_json(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=20)
    await player.press("ArrowRight", "Space")  # RIGHTFIRE in Pong's minimal action set
    await player.play(frames=60)
    await player.leave()
    steps = max(f["frame"] for f in player.frames)
    assert steps >= 60

    # Thread-sensitive, like the consumer's writes: it runs after any write still in flight.
    assert await sync_to_async(count_recorded)(player.episode) == steps

    def stored() -> tuple[list[str], dict[str, Any]]:
        _dirs, files = default_storage.listdir(f"naive/{player.episode}")
        with default_storage.open(f"naive/{player.episode}/{steps:06d}.json") as record:
            return sorted(files), json.load(record)

    files, last_step = await sync_to_async(stored)()
    assert files == sorted(
        [f"{n:06d}.png" for n in range(steps + 1)] + [f"{n:06d}.json" for n in range(1, steps + 1)]
    )
    assert last_step["frame"] == steps and last_step["input_seq"] == 1
    assert last_step["action"] == pong.keymap().action_for(["ArrowRight", "Space"])
    for name in (files[0], f"{steps:06d}.png"):
        with default_storage.open(f"naive/{player.episode}/{name}") as png:
            pixels = np.asarray(Image.open(png))
        assert pixels.shape == (210, 160, 3)


async def test_it_ends_the_running_episode_when_a_new_one_starts(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    first = player.episode
    await player.play(frames=10)
    await player.send({"type": "start"})
    end = await player.next("episode_end")
    assert (end["episode"], end["reason"]) == (first, "abandoned")
    assert end["steps"] >= 10
    new = await player.next("episode")
    assert new["episode"] != first
    assert (await player.next("frame"))["frame"] == 0
    await player.ws.disconnect()
    assert await sync_to_async(count_recorded)(first) == end["steps"]


async def test_it_answers_bad_messages_and_pings_like_arcade(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.press("Space")
    assert (await player.next("error"))["code"] == "not_started"
    for bad, code in [
        ("this is not json", "bad_message"),
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (json.dumps({"type": "input", "seq": "one"}), "bad_field"),
        ("x" * 5000, "too_large"),
    ]:
        await player.ws.send_to(text_data=bad)
        error = await player.next("error")
        assert error["code"] == code, bad
        assert error["message"]
    await player.send({"type": "ping", "t": 12.5})
    assert await player.next("pong") == {"type": "pong", "t": 12.5}
    await player.ws.disconnect()


async def test_it_serves_arcade_play_sockets_in_the_same_app(pong: Any, alice: Any) -> None:
    communicator = await connect("pong", alice, route="play")
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert (hello["type"], hello["game"]["pixel_format"]) == ("hello", "indexed")
    await communicator.disconnect()
