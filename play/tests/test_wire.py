"""The fast path for frames: RFC 6455 framing, and when it must step aside."""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from play.wire import RAW_SEND, FrameWriter, binary_frame_header


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
    # An agent's JSON observation: a text frame, its UTF-8 bytes as given.
    assert writer.write(b'{"type": "observation"}', text=True)
    assert protocol.transport.written[1] == b"\x81\x17" + b'{"type": "observation"}'


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


class FakeTwistedConnection(FakeTransport):
    """The parts of twisted.internet.tcp.Connection the direct path reads, on a real socket."""

    TLS = False

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.socket = sock
        self.connected = 1
        self.disconnecting = False
        self._tempDataBuffer: list[bytes] = []
        self.dataBuffer = b""
        self.offset = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        self._tempDataBuffer.append(data)


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    server.setblocking(False)
    yield server, client
    server.close()
    client.close()


def connected_protocol(server: socket.socket) -> FakeDaphneProtocol:
    protocol = FakeDaphneProtocol()
    protocol.transport = FakeTwistedConnection(server)
    return protocol


def twisted_connection(protocol: FakeDaphneProtocol) -> FakeTwistedConnection:
    assert isinstance(protocol.transport, FakeTwistedConnection)
    return protocol.transport


def test_it_sends_on_the_socket_at_once_when_nothing_is_buffered(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = socket_pair
    protocol = connected_protocol(server)

    assert FrameWriter(daphne_scope(protocol)).write(b"frame")

    assert client.recv(100) == b"\x82\x05frame"
    assert protocol.transport.written == []


def test_it_queues_behind_what_twisted_has_buffered(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = socket_pair
    protocol = connected_protocol(server)
    twisted_connection(protocol)._tempDataBuffer.append(b"earlier")

    assert FrameWriter(daphne_scope(protocol)).write(b"frame")

    assert protocol.transport.written == [b"\x82\x05frame"]
    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(100)  # nothing overtook the buffered bytes


def test_it_hands_twisted_the_rest_when_the_kernel_takes_part(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = socket_pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    protocol = connected_protocol(server)
    writer = FrameWriter(daphne_scope(protocol))
    big = bytes(range(256)) * 4096  # 1 MiB: more than the socket takes at once

    assert writer.write(big)

    sent_now = b""
    client.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while chunk := client.recv(1 << 20):
            sent_now += chunk
    message = binary_frame_header(len(big)) + big
    assert 0 < len(sent_now) < len(message)
    assert sent_now + b"".join(protocol.transport.written) == message


def test_it_sends_a_message_of_parts_as_one_frame_and_the_rest_of_it_through_twisted(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = socket_pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    protocol = connected_protocol(server)
    writer = FrameWriter(daphne_scope(protocol))
    head, screen = b"AOB1 and a header", memoryview(bytes(range(256)) * 4096)

    assert writer.write_parts((head, screen))

    sent_now = b""
    client.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while chunk := client.recv(1 << 20):
            sent_now += chunk
    message = binary_frame_header(len(head) + len(screen)) + head + bytes(screen)
    assert 0 < len(sent_now) < len(message)
    assert sent_now + b"".join(protocol.transport.written) == message


def test_it_sends_a_small_message_of_parts_whole_at_once(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = socket_pair
    protocol = connected_protocol(server)

    assert FrameWriter(daphne_scope(protocol)).write_parts((b"AOB1", memoryview(b"screen")))

    assert client.recv(100) == b"\x82\x0aAOB1screen"
    assert protocol.transport.written == []
