"""How sockets on one web process reach a match hosted on another: each process's post office.

A match of several seats runs on one process (the one its first player reached); a player or
a spectator whose socket landed on another process reaches it through Redis. Every process
(every event loop) has one pub/sub **inbox**, ``arcade:post:<name>``, and one **outbox** to
each process it talks to. Everything between two processes goes that way, in both
directions: the host's frames and messages to a remote socket (``RelayTransport``), and the
socket's input, acks, leaving and requests to the host's room (``tell``, ``request``).

An outbox sends whatever has queued since its last send as one PUBLISH: the frames of every
match a process hosts are made in one tick, so a tick's frames for all the sockets of another
process cross Redis as one message and wake that process once. The first design sent each
socket's frames on a channel of its own, and acks and input through the channel layer
(channels_redis: ~650 µs of CPU a message); ``python -m bench relay`` and ``bench seatcost``
measure them side by side (docs/multiplayer.md).

Relaying the host's frames was measured against relaying only the joint actions to a lockstep
replica of the emulator on the seat's process (ALE is deterministic): the replica still needs
one message a step and adds an emulator step and a frame diff on the second process, so
frames it is.

Nobody hears a message published to an inbox that no process reads: an outbox that nobody
has heard for ``GONE_AFTER`` seconds counts its process as gone, and every relay through it
as gone (the room treats that as the player leaving). A process that receives a socket's
frame after the socket has gone says so to the sender (``GONE``), which detaches that relay.

Where a match is: Redis key ``arcade:episode-room:<episode>`` holds the hosting process's
inbox and the room's id there while its episode runs (with a TTL that the heartbeat renews,
so a crashed process's addresses vanish by themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import os
import struct
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
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
    """Where a room is hosted: its process's inbox and its id there."""

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


# --- the post: what crosses between two processes --------------------------------------------

POST_KEY = "arcade:post:{}"  # a process's inbox, a Redis pub/sub channel
# What a relayed message to a socket is (the socket's consumer gets these bytes): a frame's
# bytes, or a JSON text.
FRAME, TEXT = b"F", b"T"
TO_ROOM = b"M"  # a JSON message to a room of the receiving process (input, ack, a request)
ANSWER = b"A"  # a JSON answer to a request the receiving process made
GONE = b"G"  # the socket a frame was sent to is not on the receiving process (any more)
GONE_AFTER = 2.0  # seconds of publishes nobody receives before an inbox counts as gone
MAX_BATCH = 256 * 1024  # bytes a PUBLISH carries at most; a longer queue goes as several
_MAGIC = b"AP1"
_ENTRY = struct.Struct("!cHI")  # kind, the addressee's length, the payload's length
_NAME = struct.Struct("!H")


def pack(sender: str, entries: list[tuple[bytes, bytes, bytes]]) -> bytes:
    """One PUBLISH's bytes: who sends it, then (kind, addressee, payload) entries."""
    name = sender.encode()
    parts = [_MAGIC, _NAME.pack(len(name)), name]
    for kind, to, payload in entries:
        parts += (_ENTRY.pack(kind, len(to), len(payload)), to, payload)
    return b"".join(parts)


def unpack(data: bytes) -> tuple[str, Iterator[tuple[bytes, bytes, bytes]]]:
    """The sender and the entries of what ``pack`` made; ValueError if it is not that."""
    if data[:3] != _MAGIC or len(data) < 5:
        raise ValueError("not a post office message")
    (length,) = _NAME.unpack_from(data, 3)
    sender = data[5 : 5 + length].decode()
    return sender, _entries(data, 5 + length)


def _entries(data: bytes, at: int) -> Iterator[tuple[bytes, bytes, bytes]]:
    view = memoryview(data)
    while at < len(data):
        if at + _ENTRY.size > len(data):
            raise ValueError("a post office message ends inside an entry's header")
        kind, to_length, length = _ENTRY.unpack_from(data, at)
        at += _ENTRY.size
        to = bytes(view[at : at + to_length])
        at += to_length
        if at + length > len(data):
            raise ValueError("a post office message ends inside an entry")
        yield kind, to, bytes(view[at : at + length])
        at += length


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def async_redis() -> Any:
    """This event loop's asyncio Redis client (a client belongs to the loop it was made on)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


class Outbox:
    """What this process sends to one other process's inbox, in order.

    Sends never wait for Redis: they queue, and a task of the outbox publishes whatever has
    queued in one message (a tick's frames for every socket there). While a publish is on
    its way, the next batch gathers. An inbox nobody has heard for GONE_AFTER seconds is a
    gone process: the outbox tells every relay through it and stops.
    """

    def __init__(self, office: Hub, inbox: str) -> None:
        self.office = office
        self.inbox = inbox
        self.key = POST_KEY.format(inbox)
        self.alive = True
        self.relays: weakref.WeakSet[RelayTransport] = weakref.WeakSet()
        self._queue: list[tuple[bytes, bytes, bytes, RelayTransport | None]] = []
        self._wake = asyncio.Event()
        self._unheard_since: float | None = None
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def put(self, kind: bytes, to: str, payload: bytes, relay: RelayTransport | None) -> None:
        self._queue.append((kind, to.encode(), payload, relay))
        self._wake.set()

    def stop(self) -> None:
        self.alive = False
        self._task.cancel()

    async def _pump(self) -> None:
        client = async_redis()
        sender = self.office.inbox or ""
        while True:
            await self._wake.wait()
            self._wake.clear()
            queued, self._queue = self._queue, []
            messages = list(_batches(sender, queued))
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self.key, message)
                    heard = await pipe.execute()
            except Exception:
                log.warning("could not publish to %s", self.key, exc_info=True)
                heard = [0] * len(messages)
            for *_, relay in queued:
                if relay is not None:
                    relay.queued -= 1
            self._count_heard(heard)
            if not self.alive:
                return

    def _count_heard(self, heard: list[int]) -> None:
        now = asyncio.get_running_loop().time()
        if any(heard):
            self._unheard_since = None
            return
        if self._unheard_since is None:
            self._unheard_since = now
        elif now - self._unheard_since >= GONE_AFTER:
            log.info("nobody reads %s any more: its process is gone", self.key)
            # Kept (dead) in the hub's outboxes: an inbox's name is never used again, and
            # whatever is sent to it next is refused at once.
            self.alive = False
            for relay in list(self.relays):
                relay.gone()


def _batches(
    sender: str, queued: list[tuple[bytes, bytes, bytes, RelayTransport | None]]
) -> Iterator[bytes]:
    batch: list[tuple[bytes, bytes, bytes]] = []
    size = 0
    for kind, to, payload, _ in queued:
        if batch and size + len(payload) > MAX_BATCH:
            yield pack(sender, batch)
            batch, size = [], 0
        batch.append((kind, to, payload))
        size += len(payload) + len(to) + _ENTRY.size
    if batch:
        yield pack(sender, batch)


class RelayTransport:
    """A viewer's transport to a socket on another web process, through that process's
    outbox. A socket whose messages pile up (its process or its network stalled) drops
    frames, never the host's time; its viewer's flow control then sends a keyframe."""

    def __init__(
        self, socket: str, *, inbox: str, on_gone: Callable[[], None] | None = None
    ) -> None:
        self.socket = socket
        self.attached = True
        # Told once when the socket's process says it is not there, or when that process
        # has heard nothing for GONE_AFTER seconds: the room treats that as the player leaving.
        self.on_gone = on_gone
        self.outbox = hub().outbox(inbox)
        self.outbox.relays.add(self)
        hub().relays[(inbox, socket)] = self
        self.queued = 0
        self.dropped = 0

    async def send_bytes(self, data: bytes) -> None:
        if not self.attached:
            return
        if self.queued >= MAX_QUEUED:
            self.dropped += 1
            return
        self.queued += 1
        self.outbox.put(FRAME, self.socket, data, self)

    async def send_json(self, message: p.ServerMessage | dict[str, Any]) -> None:
        if self.attached:
            self.queued += 1
            self.outbox.put(TEXT, self.socket, json.dumps(message).encode(), self)

    def close(self) -> None:
        self.attached = False
        hub().relays.pop((self.outbox.inbox, self.socket), None)

    def gone(self) -> None:
        if not self.attached:
            return
        self.close()
        if self.on_gone is not None:
            self.on_gone()


def release(transport: object) -> None:
    """A viewer's transport that its room or match is done with: a relay to another process
    stops (a socket of this process closes by itself)."""
    if isinstance(transport, RelayTransport):
        transport.close()


class Relayed:
    """The receiving end of ``RelayTransport``: a socket's consumer on another process than
    its match has what is sent to it delivered by this process's inbox."""

    def __init__(self, socket: str, forward: Callable[[bytes], Awaitable[None]]) -> None:
        self.socket = socket
        self.forward = forward

    async def start(self) -> None:
        """Be reachable (before asking the room for anything, so that nothing is lost)."""
        await hub().listening()
        hub().sockets[self.socket] = self.forward

    async def stop(self) -> None:
        hub().sockets.pop(self.socket, None)


Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Hub:
    """This process's post office: its inbox, its outboxes, the rooms it serves requests for
    and the sockets it delivers relayed messages to."""

    def __init__(self) -> None:
        self.inbox: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._rooms: dict[str, Handler] = {}
        self.sockets: dict[str, Callable[[bytes], Awaitable[None]]] = {}
        self.relays: dict[tuple[str, str], RelayTransport] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def address(self, room: str, handler: Handler) -> Address:
        """Serve ``room``'s requests with ``handler`` from now on; where to send them."""
        inbox = await self.listening()
        self._rooms[room] = handler
        return Address(channel=inbox, room=room)

    def close(self, room: str) -> None:
        self._rooms.pop(room, None)

    def local(self, address: Address) -> bool:
        return address.channel == self.inbox and address.room in self._rooms

    async def listening(self) -> str:
        """This process's inbox, read from now on."""
        loop = asyncio.get_running_loop()
        # A listener of another event loop (each test runs its own) is as good as gone.
        if self._listener is None or self._listener.done() or self._listener.get_loop() is not loop:
            self._reset()
            # Named by its process (which one hosts a room, for people reading Redis) and a
            # random part (a process's next event loop, or a restart, is another inbox).
            self.inbox = f"{os.getpid()}.{uuid.uuid4().hex[:16]}"
            pubsub = async_redis().pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(POST_KEY.format(self.inbox))
            # A context of its own: one copied from the request that happened to start it
            # would hand its handlers that request's sync_to_async executor, gone with it.
            self._listener = loop.create_task(self._listen(pubsub), context=contextvars.Context())
        assert self.inbox is not None
        return self.inbox

    def _reset(self) -> None:
        for outbox in self._outboxes.values():
            with contextlib.suppress(RuntimeError):  # its loop may be closed: nothing to stop
                outbox.stop()
        self._outboxes.clear()
        self.sockets.clear()
        self.relays.clear()
        self._answers.clear()

    def outbox(self, inbox: str) -> Outbox:
        outbox = self._outboxes.get(inbox)
        if outbox is None:
            outbox = self._outboxes[inbox] = Outbox(self, inbox)
        return outbox

    def send(self, inbox: str, kind: bytes, to: str, message: dict[str, Any]) -> bool:
        """Queue a JSON message for another process; False if that process is known gone."""
        outbox = self.outbox(inbox)
        if not outbox.alive:
            return False
        outbox.put(kind, to, json.dumps(message).encode(), None)
        return True

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    sender, entries = unpack(bytes(message["data"]))
                    for kind, to, payload in entries:
                        await self._deliver(sender, kind, to.decode(), payload)
                except Exception:  # one bad message must not stop the process's post
                    log.exception("could not deliver a message from another process")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _deliver(self, sender: str, kind: bytes, to: str, payload: bytes) -> None:
        if kind in (FRAME, TEXT):
            forward = self.sockets.get(to)
            if forward is None:
                self.outbox(sender).put(GONE, to, b"", None)
                return
            await forward(kind + payload)
        elif kind == GONE:
            relay = self.relays.get((sender, to))
            if relay is not None:
                relay.gone()
        elif kind == ANSWER:
            waiting = self._answers.pop(to, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(json.loads(payload))
        elif kind == TO_ROOM:
            await self._serve(sender, to, json.loads(payload))

    async def _serve(self, sender: str, room: str, message: dict[str, Any]) -> None:
        message["sender"] = sender
        if "reply" in message:
            message["reply"] = f"{sender} {message['reply']}"
        handler = self._rooms.get(room)
        if handler is None:
            if "reply" in message:  # told at once, rather than left to wait until it gives up
                await reply(
                    message["reply"],
                    {"type": "room.refused", "code": "gone", "text": "That game ended."},
                )
            return
        try:
            await handler(message)
        except Exception:  # one room's trouble must not stop the others' requests
            log.exception("room %s could not handle %s", room, message.get("type"))

    async def request(
        self, address: Address, message: dict[str, Any], *, timeout: float = REPLY_TIMEOUT
    ) -> dict[str, Any]:
        await self.listening()
        asked = uuid.uuid4().hex
        answer = self._answers[asked] = asyncio.get_running_loop().create_future()
        if not self.send(address.channel, TO_ROOM, address.room, {**message, "reply": asked}):
            self._answers.pop(asked, None)
            return {"type": "room.refused", "code": "gone", "text": "That game ended."}
        try:
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return {"type": "room.refused", "code": "gone", "text": "That game is not answering."}
        finally:
            self._answers.pop(asked, None)


@functools.cache
def hub() -> Hub:
    return Hub()


async def request(
    address: Address, message: dict[str, Any], *, timeout: float = REPLY_TIMEOUT
) -> dict[str, Any]:
    """Send a request to a room and wait for its answer; a refusal when the host does not
    answer in time."""
    return await hub().request(address, message, timeout=timeout)


async def tell(address: Address, message: dict[str, Any]) -> bool:
    """Send a message to a room, expecting no answer (input, acks, leaving); False when its
    process is known gone: the message is dropped."""
    await hub().listening()
    return hub().send(address.channel, TO_ROOM, address.room, message)


async def reply(to: str, message: dict[str, Any]) -> None:
    """Answer a request (``to`` is its ``reply``: the asking process and the request's id)."""
    inbox, _, asked = to.partition(" ")
    hub().send(inbox, ANSWER, asked, message)


def redis() -> Any:
    return transfer.client()
