"""How sockets on one web process reach a match hosted on another.

A match of several seats runs on one process (the one its first player reached); a player or
a spectator whose socket landed on another process reaches it through Redis: their consumer
sends its input, acks and requests to the hosting process's **hub** channel (the channel
layer: a few messages a second), and the host publishes their frames and messages to the
socket's own pub/sub relay channel (``RelayTransport``, ``Relayed``: 60 a second).

Relaying the host's frames was measured against relaying only the joint actions to a lockstep
replica of the emulator on the seat's process (ALE is deterministic), and the channel layer
against pub/sub: see ``bench/relay.py`` and docs/multiplayer.md. The replica still needs one
message a step and adds an emulator step and a frame diff on the second process, so frames
it is; and pub/sub carries a frame for a sixth of the channel layer's CPU.

Where a match is: Redis key ``arcade:episode-room:<episode>`` holds the hosting hub's
channel and the room's id there while its episode runs (with a TTL that the heartbeat renews,
so a crashed process's addresses vanish by themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings

from recording import transfer

from . import protocol as p

log = logging.getLogger(__name__)

# Where a running episode is hosted lives this long unless its heartbeat renews it (every
# HEARTBEAT_SECONDS, ``keep``): a crashed process's addresses vanish by themselves.
EPISODE_TTL = 120
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


async def publish(address: Address, *, episode: str) -> None:
    """Say where a running episode is hosted (spectators and returning players look it up)."""
    await _redis_do(
        lambda redis: redis.set(EPISODE_KEY.format(episode), address.dumps(), ex=EPISODE_TTL)
    )


async def unpublish(episode: str) -> None:
    await _redis_do(lambda redis: redis.delete(EPISODE_KEY.format(episode)))


def keep(episode_ids: list[str]) -> None:
    """Renew the addresses of the episodes this process hosts (the heartbeat's thread calls
    it): an episode played longer than EPISODE_TTL stays findable."""
    with redis().pipeline(transaction=False) as pipe:
        for episode in episode_ids:
            pipe.expire(EPISODE_KEY.format(episode), EPISODE_TTL)
        pipe.execute()


async def room_of_episode(episode: str) -> Address | None:
    return Address.loads(await _redis_do(lambda redis: redis.get(EPISODE_KEY.format(episode))))


RELAY_KEY = "arcade:relay:{}"  # the Redis pub/sub channel of one remote socket
FRAME, TEXT = b"F", b"T"  # what a relayed message is: a frame's bytes, or a JSON text
GONE_AFTER = 2.0  # seconds of publishes nobody receives before a remote socket counts as gone

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def async_redis() -> Any:
    """This event loop's asyncio Redis client (a client belongs to the loop it was made on)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


class RelayTransport:
    """A viewer's transport to a socket on another web process: Redis pub/sub.

    Frames go by PUBLISH on the socket's own relay channel, which its consumer subscribes to
    (``Relayed``), not through the channel layer: channels_redis costs ~650 µs of CPU a
    message, pub/sub ~130 (``python -m bench relay``), and a remote seat gets 60 a second.
    Sends never wait for Redis on the match's tick: they queue, in order, for a task of this
    transport, which publishes whatever has queued in one round trip. A socket whose messages
    pile up (its process or its network stalled) drops frames, never the host's time; its
    viewer's flow control then sends a keyframe.
    """

    def __init__(self, channel: str, *, on_gone: Callable[[], None] | None = None) -> None:
        self.key = RELAY_KEY.format(channel)
        self.attached = True
        # Told once when nobody has received what was published for GONE_AFTER seconds (the
        # socket's process died): the room treats that as the player leaving.
        self.on_gone = on_gone
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        self._unheard_since: float | None = None
        self.dropped = 0

    async def send_bytes(self, data: bytes) -> None:
        if not self.attached:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.put_nowait(FRAME + data)

    async def send_json(self, message: p.ServerMessage | dict[str, Any]) -> None:
        if self.attached:
            self._queue.put_nowait(TEXT + json.dumps(message).encode())

    def close(self) -> None:
        self.attached = False
        self._queue.put_nowait(None)

    async def _pump(self) -> None:
        redis = async_redis()
        while True:
            first = await self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < 64:
                batch.append(self._queue.get_nowait())
            ending = None in batch
            payloads = [item for item in batch if item is not None]
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    for payload in payloads:
                        pipe.publish(self.key, payload)
                    heard = await pipe.execute() if payloads else []
            except Exception:
                log.warning("relay to %s failed", self.key, exc_info=True)
                heard = [0] * len(payloads)
            if ending:
                return
            self._count_heard(heard)

    def _count_heard(self, heard: list[int]) -> None:
        now = asyncio.get_running_loop().time()
        if any(heard):
            self._unheard_since = None
            return
        if self._unheard_since is None:
            self._unheard_since = now
        elif now - self._unheard_since >= GONE_AFTER and self.attached:
            log.info("nobody receives %s any more; it is detached", self.key)
            self.attached = False
            if self.on_gone is not None:
                self.on_gone()


class Relayed:
    """The receiving end of a ``RelayTransport``: a socket's consumer on another process than
    its match subscribes to its relay channel and forwards what arrives."""

    def __init__(self, channel: str, forward: Callable[[bytes], Awaitable[None]]) -> None:
        self.key = RELAY_KEY.format(channel)
        self.forward = forward
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe (before asking the room for anything, so that nothing it sends is lost)."""
        if self._pubsub is not None:
            return
        self._pubsub = async_redis().pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.key)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._pubsub is not None
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                await self.forward(bytes(message["data"]))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.unsubscribe(self.key)
                await pubsub.aclose()
            except Exception:
                log.info("could not unsubscribe from %s", self.key, exc_info=True)


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
