"""Test helpers: WebSocket clients of the real ASGI application, signed in by session."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from arcade.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


async def session_cookie(user: Any) -> bytes:
    def login() -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    return f"sessionid={await sync_to_async(login)()}".encode()


async def connect(
    slug: str,
    user: Any = None,
    origin: tuple[bytes, bytes] = ORIGIN,
    *,
    app: Any = application,
    route: str = "play",
) -> WebsocketCommunicator:
    """A socket to ``/ws/<route>/<slug>/`` of ``app``, signed in as ``user`` when given."""
    headers = [origin, (b"host", b"127.0.0.1:8000")]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(app, f"/ws/{route}/{slug}/", headers=headers)


async def closed_with(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted, so that the close code reaches the browser
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return int(message["code"])


async def end_every_game() -> None:
    """End every game this process still hosts, so that no test's game outlives it.

    A communicator that disconnects gives its consumer a second to finish, then cancels it;
    the consumer's let-go goes on, shielded, and may park the game a moment later. So this
    looks again until nothing has been left for a while.
    """
    from play import engine, lobby

    for room in lobby.rooms():
        await room.close()
    await lobby.forget_all()
    quiet_since = asyncio.get_running_loop().time()
    while asyncio.get_running_loop().time() - quiet_since < 0.3:
        await asyncio.sleep(0.05)
        live = [s for s in engine._sessions if s.episode is not None]
        if live or len(engine.parked()):
            await engine.parked().end_all()
            for session in live:
                await session.stop("abandoned")
            quiet_since = asyncio.get_running_loop().time()
