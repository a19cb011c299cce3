"""The fast path for frames: RFC 6455 framing, and when it must step aside."""

from __future__ import annotations

import functools
import struct
from typing import Any

import pytest

from arcade.wire import RAW_SEND, FrameWriter, binary_frame_header


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f" + struct.pack("!Q", 65536)),
    ],
)
def test_it_frames_a_binary_message_as_rfc_6455_says(length: int, header: bytes) -> None:
    assert binary_frame_header(length) == header


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class FakeDaphneProtocol:
    STATE_OPEN = 1
    STATE_CLOSING = 2

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.state = self.STATE_OPEN
        self.send_queue: list[Any] = []


def daphne_scope(protocol: FakeDaphneProtocol) -> dict[str, Any]:
    def handle_reply(protocol: Any, message: Any) -> None:
        raise AssertionError("the fast path should not have used the ASGI send")

    return {RAW_SEND: functools.partial(handle_reply, protocol)}


def test_it_writes_frames_straight_to_an_open_daphne_socket() -> None:
    protocol = FakeDaphneProtocol()
    writer = FrameWriter(daphne_scope(protocol))
    assert writer.write(b"x" * 300)
    assert protocol.transport.written == [b"\x82\x7e\x01\x2c" + b"x" * 300]


def test_it_steps_aside_for_another_asgi_server() -> None:
    async def send(message: Any) -> None: ...

    assert not FrameWriter({RAW_SEND: send}).write(b"x")
    assert not FrameWriter({}).write(b"x")


def test_it_steps_aside_while_the_socket_closes() -> None:
    protocol = FakeDaphneProtocol()
    protocol.state = protocol.STATE_CLOSING
    assert not FrameWriter(daphne_scope(protocol)).write(b"x")
    assert protocol.transport.written == []


def test_it_keeps_order_behind_messages_autobahn_has_queued() -> None:
    protocol = FakeDaphneProtocol()
    protocol.send_queue.append((b"queued", True))
    assert not FrameWriter(daphne_scope(protocol)).write(b"x")
    assert protocol.transport.written == []
