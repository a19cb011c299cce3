"""A lean client of the agent socket (``docs/agents.md``), for ``bench agents``.

It speaks the protocol as written, with nothing of its own on top: JSON text messages, the
binary observation encoding (``AOB1``: magic, the header's length, the JSON header, the screen's
bytes), and several named sessions on one socket (``data.session``), each answered in the order
it asked, so a socket may have one request in flight per session. The screen of a binary
observation is a NumPy view of the message, never copied; a delta-encoded one (``"encoding":
"delta"``) is rebuilt on the socket's previous screen of its session, with the Python client's
``Screens``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections import defaultdict, deque
from typing import Any

import numpy as np
from arcade_client.wire import Screens

try:  # four times json's speed on a screen as a list; the bench's dependencies bring it
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads  # type: ignore[assignment]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MAGIC = b"AOB1"
HEADER = struct.Struct("<4sI")


def decode(message: str | bytes, screens: Screens | None = None) -> dict[str, Any]:
    """A reply as a dict; a binary observation's screen as a uint8 array of its shape (a
    delta-encoded one rebuilt on the socket's ``screens``, as arcade_client does)."""
    if isinstance(message, str):
        reply: dict[str, Any] = loads(message)
        return reply
    magic, size = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"a binary message must start with {MAGIC!r}, not {magic!r}")
    reply = loads(message[HEADER.size : HEADER.size + size])
    observation = reply["data"]["observation"]
    shape = tuple(observation["screen_shape"])
    if observation.get("screen_codec"):
        if screens is None:
            raise ValueError("a delta-encoded observation needs the socket's screens")
        coded = memoryview(message)[HEADER.size + size :]
        session = reply["data"].get("session", "")
        observation["screen"] = screens.decoded(session, observation["screen_codec"], coded, shape)
        return reply
    screen = np.frombuffer(message, dtype=np.uint8, offset=HEADER.size + size)
    observation["screen"] = screen.reshape(shape)
    return reply


def encode(kind: str, data: dict[str, Any] | None = None, session: str = "") -> str:
    body = dict(data or {})
    if session:
        body["session"] = session
    return json.dumps({"type": kind, "data": body})


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).rstrip("/") + "/ws"


class AgentSocket:
    """One socket, its sessions' replies routed to whoever asked, in order per session.

    Replies that nobody waits for (an ``idle_timeout`` or ``token_revoked`` the server sends on
    its own) are kept in ``unasked``.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.waiting: dict[str, deque[asyncio.Future[dict[str, Any]]]] = defaultdict(deque)
        self.unasked: list[dict[str, Any]] = []
        self.screens = Screens()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str) -> AgentSocket:
        ws = await connect(
            ws_url(url),
            additional_headers={"Authorization": f"Bearer {token}"},
            max_size=None,
            compression=None,
            open_timeout=30,
        )
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                reply = decode(message, self.screens)
                data = reply.get("data") or {}
                queue = self.waiting.get(data.get("session", ""))
                if queue:
                    future = queue.popleft()
                    if not future.done():  # its asker may have stopped waiting
                        future.set_result(reply)
                else:
                    self.unasked.append(reply)
        finally:
            for queue in self.waiting.values():
                while queue:
                    future = queue.popleft()
                    if not future.done():
                        future.set_exception(ConnectionError("the socket closed"))

    async def ask(
        self, kind: str, data: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        """Send one request of ``session`` and wait for its reply."""
        if self.reader.done():
            raise ConnectionError("the socket closed")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[session].append(future)  # before sending: the reply may come first
        try:
            await self.ws.send(encode(kind, data, session))
        except ConnectionClosed as closed:
            future.cancel()
            raise ConnectionError(f"the socket closed: {closed}") from None
        return await future

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed by the server: nothing to say
            await self.ws.send(encode("close"))
        await self.ws.close()
        self.reader.cancel()
