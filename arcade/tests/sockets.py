"""Test helpers: WebSocket clients of the real ASGI application, signed in by session."""

from __future__ import annotations

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
