"""The post office between web processes (play/hub.py), on a real Redis.

One process talks to another through its outbox to the other's inbox; these tests stand in
for the other process with a plain subscription to an inbox, or let this process's hub talk
to itself (its own inbox is as good as another's).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from typing import Any

import pytest

from play import hub as hubs


@pytest.fixture(autouse=True)
def fresh_hub(redis_flushed: None) -> Iterator[None]:
    """Each test's event loop gets a hub of its own (as a process would)."""
    hubs.hub.cache_clear()
    yield
    hubs.hub.cache_clear()


async def _subscribed(inbox: str) -> Any:
    pubsub = hubs.async_redis().pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(hubs.POST_KEY.format(inbox))
    return pubsub


async def _messages(pubsub: Any, *, within: float = 0.5) -> list[bytes]:
    received = []
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(timeout=0.05)
        if message is not None and message["type"] == "message":
            received.append(bytes(message["data"]))
    return received


def test_a_message_packs_and_unpacks_to_what_went_in() -> None:
    entries = [(hubs.FRAME, b"sock-1", b"\x00\x01" * 500), (hubs.TEXT, b"sock-2", b'{"a":1}')]
    sender, unpacked = hubs.unpack(hubs.pack("123.abc", entries))
    assert (sender, list(unpacked)) == ("123.abc", entries)


@pytest.mark.parametrize(
    "junk", [b"", b"junk", b"AP1\x00", hubs.pack("x", [(b"F", b"s", b"12345")])[:-2]]
)
def test_what_is_not_a_whole_message_is_refused(junk: bytes) -> None:
    with pytest.raises(ValueError):
        _, entries = hubs.unpack(junk)
        list(entries)


async def test_a_tick_of_frames_for_one_process_crosses_redis_as_one_message() -> None:
    other = await _subscribed("other")
    await hubs.hub().listening()
    relays = [hubs.RelayTransport(f"sock-{n}", inbox="other") for n in range(5)]
    for n, relay in enumerate(relays):  # one tick: every match's frame, nothing awaited
        await relay.send_bytes(bytes([n]) * 10)
    await relays[0].send_json({"type": "lobby"})

    [message] = await _messages(other)
    sender, entries = hubs.unpack(message)
    assert sender == hubs.hub().inbox
    assert list(entries) == [
        *((hubs.FRAME, f"sock-{n}".encode(), bytes([n]) * 10) for n in range(5)),
        (hubs.TEXT, b"sock-0", b'{"type": "lobby"}'),
    ]
    await other.aclose()


async def test_a_socket_gets_its_frames_and_texts_in_order() -> None:
    inbox = await hubs.hub().listening()
    got: list[bytes] = []

    async def forward(data: bytes) -> None:
        got.append(data)

    await hubs.Relayed("sock-a", forward).start()
    relay = hubs.RelayTransport("sock-a", inbox=inbox)
    for n in range(3):
        await relay.send_bytes(bytes([n]))
        await asyncio.sleep(0)
    await relay.send_json({"type": "over"})
    for _ in range(100):
        if len(got) == 4:
            break
        await asyncio.sleep(0.01)
    assert got == [b"F\x00", b"F\x01", b"F\x02", b'T{"type": "over"}']


async def test_a_frame_for_a_socket_that_went_detaches_its_relay_and_tells_the_room_once() -> None:
    inbox = await hubs.hub().listening()
    relayed = hubs.Relayed("sock-b", lambda data: asyncio.sleep(0))
    await relayed.start()
    gone: list[str] = []
    relay = hubs.RelayTransport("sock-b", inbox=inbox, on_gone=lambda: gone.append("b"))
    await relayed.stop()  # the socket closed on its process
    for _ in range(5):
        await relay.send_bytes(b"frame")
    for _ in range(100):
        if not relay.attached:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert (relay.attached, gone) == (False, ["b"])


async def test_a_process_nobody_hears_is_gone_and_so_is_every_relay_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hubs, "GONE_AFTER", 0.2)
    await hubs.hub().listening()
    gone: list[int] = []
    relays = [
        hubs.RelayTransport(f"sock-{n}", inbox="dead", on_gone=functools.partial(gone.append, n))
        for n in range(2)
    ]
    for _ in range(20):
        await relays[0].send_bytes(b"frame")
        await asyncio.sleep(0.03)
    assert sorted(gone) == [0, 1]
    assert not await hubs.tell(hubs.Address(channel="dead", room="r"), {"type": "room.ack"})


async def test_garbage_in_an_inbox_stops_nothing() -> None:
    inbox = await hubs.hub().listening()
    got: list[bytes] = []

    async def forward(data: bytes) -> None:
        got.append(data)

    await hubs.Relayed("sock-c", forward).start()
    client = hubs.async_redis()
    key = hubs.POST_KEY.format(inbox)
    await client.publish(key, b"junk")
    await client.publish(key, hubs.pack(inbox, [(hubs.FRAME, b"sock-c", b"1")])[:-1])
    await client.publish(key, hubs.pack(inbox, [(hubs.TO_ROOM, b"no-room", b"{not json")]))
    await hubs.RelayTransport("sock-c", inbox=inbox).send_bytes(b"2")
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    assert got == [b"F2"]


async def test_a_request_is_answered_by_its_room_and_refused_for_a_room_that_is_not_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []

    async def room(message: dict[str, Any]) -> None:
        seen.append(message)
        await hubs.reply(message["reply"], {"type": "room.joined", "seat": 1})

    address = await hubs.hub().address("room-1", room)
    answer = await hubs.request(address, {"type": "room.join", "user": 7, "consumer": "sock"})
    assert answer == {"type": "room.joined", "seat": 1}
    assert (seen[0]["user"], seen[0]["sender"]) == (7, hubs.hub().inbox)

    elsewhere = hubs.Address(channel=address.channel, room="room-2")
    refused = await hubs.request(elsewhere, {"type": "room.join", "user": 7, "consumer": "s"})
    assert (refused["type"], refused["code"]) == ("room.refused", "gone")

    monkeypatch.setattr(hubs, "REPLY_TIMEOUT", 0.2)
    silent = hubs.Address(channel="nobody-reads-this", room="room-3")
    late = await hubs.request(silent, {"type": "room.watch", "consumer": "s"})
    assert (late["type"], late["code"]) == ("room.refused", "gone")
