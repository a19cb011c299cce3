"""A fast path for frames: pre-framed WebSocket messages written to Daphne's transport.

Every frame of every session otherwise goes Channels' send wrappers → Daphne's handle_reply →
autobahn's sendMessage/sendFrame, about 50 µs of Python a frame (docs/performance.md). A
server-to-client binary frame is two to ten header bytes and the payload, so when the socket
is served by Daphne and open, with nothing queued in autobahn ahead of it, the frame is written
straight to the transport (an agent's observation, ``agents/consumers.py``, the same way as a
text frame). Anything else (closing, another ASGI server such as the test communicator) takes
the ordinary ASGI path.

Twisted's ``transport.write`` never sends at once: it buffers, registers the socket for
writing (an ``epoll_ctl``), sends on the next turn of the loop and unregisters (another
``epoll_ctl``). When Twisted holds nothing queued for the socket, the frame is sent on it at
once instead, and whatever the kernel does not take goes to ``transport.write`` in order.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any, TypeAlias

from channels.routing import ProtocolTypeRouter

RAW_SEND = "arcade.raw_send"


class ExposeRawSend:
    """Outermost ASGI layer: keeps the server's own send callable in the WebSocket scope."""

    def __init__(self, inner: ProtocolTypeRouter) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, RAW_SEND: send}
        await self.inner(scope, receive, send)


Part: TypeAlias = bytes | bytearray | memoryview  # a piece of a message, sent as it is
BINARY = 0x82  # FIN and the binary opcode
TEXT = 0x81  # FIN and the text opcode


def binary_frame_header(length: int, first: int = BINARY) -> bytes:
    """RFC 6455 header of an unfragmented, unmasked frame (server to client): binary, or text
    with ``first=TEXT``."""
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class FrameWriter:
    """Writes binary messages for one socket, straight to Daphne's transport when it can."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self._protocol = None
        self._direct: Any = None
        raw = scope.get(RAW_SEND)
        # Daphne passes partial(Server.handle_reply, protocol); anything else: no fast path.
        if isinstance(raw, functools.partial) and raw.args:
            protocol = raw.args[0]
            if all(
                hasattr(protocol, a) for a in ("transport", "state", "STATE_OPEN", "send_queue")
            ):
                self._protocol = protocol
                if _sends_directly(protocol.transport):
                    self._direct = protocol.transport

    @property
    def open(self) -> bool:
        """False once Daphne's protocol has left the open state (closing or closed); True
        when it is open or cannot be told (another server)."""
        protocol = self._protocol
        return protocol is None or protocol.state == protocol.STATE_OPEN

    def write(self, data: bytes, *, text: bool = False) -> bool:
        """Send ``data`` as one binary message (a text one, UTF-8, with ``text``); False when
        the caller must use ASGI send."""
        return self.write_parts((data,), text=text)

    def write_parts(self, parts: Sequence[Part], *, text: bool = False) -> bool:
        """``write`` of the message made of ``parts`` one after another, sent as they are
        (``sendmsg``): a 100 KB screen after its header is not copied into one message."""
        protocol = self._protocol
        if protocol is None or protocol.state != protocol.STATE_OPEN or protocol.send_queue:
            return False
        length = sum(memoryview(part).nbytes for part in parts)
        header = binary_frame_header(length, TEXT if text else BINARY)
        transport = self._direct
        if (
            transport is not None
            and transport.connected
            and not transport.disconnecting
            and not transport.TLS
            and not transport._tempDataBuffer
            and len(transport.dataBuffer) == transport.offset
        ):
            try:
                sent = transport.socket.sendmsg((header, *parts))
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the connection is going: Twisted finds out on its next write
            if sent == len(header) + length:
                return True
            # The kernel took part of it: Twisted writes the rest when the socket can.
            protocol.transport.write(b"".join((header, *parts))[sent:])
            return True
        protocol.transport.write(b"".join((header, *parts)))
        return True


def _sends_directly(transport: Any) -> bool:
    """Whether ``transport`` is a Twisted TCP connection whose buffers we can see."""
    return all(
        hasattr(transport, name)
        for name in (
            "socket",
            "connected",
            "disconnecting",
            "TLS",
            "_tempDataBuffer",
            "dataBuffer",
            "offset",
        )
    )
