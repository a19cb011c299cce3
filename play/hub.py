"""How sockets on one web process reach a match hosted on another.

A match of several seats runs on one process (the one its first player reached); a player or
a spectator whose socket landed on another process reaches it through the channel layer:
their consumer sends its input, acks and requests to the hosting process's **hub** channel,
and the host sends their frames and messages back to the consumer's own channel.

Relaying the host's frames (one small channel message a frame) was measured against relaying
only the joint actions to a lockstep replica of the emulator on the seat's process (ALE is
deterministic): see ``bench/relay.py`` and docs/multiplayer.md. The replica still needs one
message a step (its step's joint action) and adds an emulator step and a frame diff on the
second process, so relaying frames costs less; it is what this module does.

Where a match is: Redis keys ``arcade:room:<room>`` and ``arcade:episode-room:<episode>``
hold the hosting hub's channel and the room id, for as long as the room lives (with a TTL,
refreshed, so a crashed process's rooms vanish by themselves).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from recording import transfer

from . import protocol as p

log = logging.getLogger(__name__)

ROOM_TTL = 120  # seconds a room's address lives in Redis unless refreshed
ROOM_KEY = "arcade:room:{}"
EPISODE_KEY = "arcade:episode-room:{}"
REPLY_TIMEOUT = 3.0  # seconds a consumer waits for a hosting process to answer
MAX_QUEUED = 240  # messages a stalled remote socket may have waiting; then its frames drop


@dataclass(frozen=True, slots=True)
class Address:
    """Where a room is hosted: its hub's channel and its id there."""

    channel: str
    room: str

    def dumps(self) -> str:
        return json.dumps({"channel": self.channel, "room": self.room})

    @classmethod
    def loads(cls, raw: bytes | str | None) -> Address | None:
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            return cls(channel=str(value["channel"]), room=str(value["room"]))
        except (ValueError, KeyError, TypeError):
            return None


def _redis_do(work: Callable[[Any], Any]) -> Awaitable[Any]:
    """Run Redis commands off the event loop (rooms are looked up a few times a match)."""
    return asyncio.to_thread(work, redis())


async def publish(address: Address, *, episode: str | None = None) -> None:
    """Say where a room (and its running episode, for spectators) is hosted."""

    def work(redis: Any) -> None:
        with redis.pipeline(transaction=False) as pipe:
            pipe.set(ROOM_KEY.format(address.room), address.dumps(), ex=ROOM_TTL)
            if episode is not None:
                pipe.set(EPISODE_KEY.format(episode), address.dumps(), ex=ROOM_TTL)
            pipe.execute()

    await _redis_do(work)


async def unpublish(room: str, *, episode: str | None = None) -> None:
    def work(redis: Any) -> None:
        keys = [ROOM_KEY.format(room)]
        if episode is not None:
            keys.append(EPISODE_KEY.format(episode))
        redis.delete(*keys)

    await _redis_do(work)


async def room_of_episode(episode: str) -> Address | None:
    return Address.loads(await _redis_do(lambda redis: redis.get(EPISODE_KEY.format(episode))))


class ChannelTransport:
    """A viewer's transport to a consumer on another process, through the channel layer.

    Sends never wait for Redis on the match's tick: they queue, in order, for a task of this
    transport. A socket whose messages pile up (its process or its network stalled) drops
    frames, never the host's time; its viewer's flow control then sends a keyframe.
    """

    def __init__(self, channel: str, *, on_gone: Callable[[], None] | None = None) -> None:
        self.channel = channel
        self.attached = True
        # Told once when the consumer stops taking messages (its process died, or it stalled
        # until its channel filled): the room treats that as the player leaving.
        self.on_gone = on_gone
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        self.dropped = 0

    async def send_bytes(self, data: bytes) -> None:
        if not self.attached:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.put_nowait({"type": "relay.frame", "bytes": data})

    async def send_json(self, message: p.ServerMessage | dict[str, Any]) -> None:
        if self.attached:
            self._queue.put_nowait({"type": "relay.json", "message": dict(message)})

    def close(self) -> None:
        self.attached = False
        self._queue.put_nowait(None)

    async def _pump(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            message = await self._queue.get()
            if message is None:
                return
            try:
                await layer.send(self.channel, message)
            except Exception:  # a full channel (the consumer is gone): stop relaying
                log.info("relay to %s failed; it is detached", self.channel, exc_info=True)
                self.attached = False
                if self.on_gone is not None:
                    self.on_gone()
                return


Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Hub:
    """This process's channel for requests to the rooms it hosts."""

    def __init__(self) -> None:
        self.channel: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._rooms: dict[str, Handler] = {}

    async def address(self, room: str, handler: Handler) -> Address:
        """Serve ``room``'s requests with ``handler`` from now on; where to send them."""
        channel = await self._listening()
        self._rooms[room] = handler
        return Address(channel=channel, room=room)

    def close(self, room: str) -> None:
        self._rooms.pop(room, None)

    def local(self, address: Address) -> bool:
        return address.channel == self.channel and address.room in self._rooms

    async def _listening(self) -> str:
        loop = asyncio.get_running_loop()
        # A listener of another event loop (each test runs its own) is as good as gone.
        if self._listener is None or self._listener.done() or self._listener.get_loop() is not loop:
            layer = get_channel_layer()
            assert layer is not None
            self.channel = await layer.new_channel()
            self._listener = loop.create_task(self._listen(self.channel))
        assert self.channel is not None
        return self.channel

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            message = await layer.receive(channel)
            handler = self._rooms.get(str(message.get("room")))
            reply = message.get("reply")
            if handler is None:
                if reply and message.get("type") in ("room.join", "room.watch"):
                    await layer.send(
                        reply, {"type": "room.refused", "code": "gone", "text": "That game ended."}
                    )
                continue
            try:
                await handler(message)
            except Exception:  # one room's trouble must not stop the others' requests
                log.exception("room %s could not handle %s", message.get("room"), message["type"])


@functools.cache
def hub() -> Hub:
    return Hub()


async def request(address: Address, message: dict[str, Any]) -> dict[str, Any]:
    """Send a request to a room and wait for its answer on a channel of its own; a refusal
    when the host does not answer in time."""
    layer = get_channel_layer()
    assert layer is not None
    reply = await layer.new_channel()
    await layer.send(address.channel, {**message, "room": address.room, "reply": reply})
    try:
        answer: dict[str, Any] = await asyncio.wait_for(layer.receive(reply), REPLY_TIMEOUT)
    except TimeoutError:
        return {"type": "room.refused", "code": "gone", "text": "That game is not answering."}
    return answer


async def tell(address: Address, message: dict[str, Any]) -> bool:
    """Send a message to a room, expecting no answer (input, acks, leaving); False when its
    hub's channel is full (its process is gone or far behind): the message is dropped."""
    layer = get_channel_layer()
    assert layer is not None
    try:
        await layer.send(address.channel, {**message, "room": address.room})
    except ChannelFull:
        log.warning("room %s is not taking messages; dropped a %s", address.room, message["type"])
        return False
    return True


async def reply(channel: str, message: dict[str, Any]) -> None:
    """Answer a request on the channel it named."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.send(channel, message)


def redis() -> Any:
    return transfer.client()
