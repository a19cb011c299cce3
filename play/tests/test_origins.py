"""The play socket opens only from this site's own pages: scheme, host and port all count."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from arcade.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def opens(
    origin: str | None, *, host: str = "127.0.0.1:8000", scheme: str = "ws", **headers: str
) -> bool:
    sent = [(b"host", host.encode())]
    if origin is not None:
        sent.append((b"origin", origin.encode()))
    sent += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    communicator = WebsocketCommunicator(application, "/ws/play/pong/", headers=sent)
    communicator.scope["scheme"] = scheme  # the application has not read its scope yet
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return bool(connected)


async def test_it_opens_from_the_sites_own_page(pong: Any) -> None:
    assert await opens("http://127.0.0.1:8000")
    assert await opens("http://localhost:8000", host="localhost:8000")
    assert await opens("https://127.0.0.1", host="127.0.0.1:443", scheme="wss")


async def test_it_refuses_a_page_on_another_port_of_the_same_host(pong: Any) -> None:
    assert not await opens("http://127.0.0.1:9000")
    assert not await opens("http://127.0.0.1")


async def test_it_refuses_a_page_of_another_scheme(pong: Any) -> None:
    assert not await opens("https://127.0.0.1:8000")
    assert not await opens("http://127.0.0.1:8000", scheme="wss")


async def test_it_refuses_another_host_and_a_missing_or_opaque_origin(pong: Any) -> None:
    assert not await opens("http://evil.example")
    assert not await opens("http://evil.example:8000", host="evil.example:8000")  # not allowed
    assert not await opens(None)
    assert not await opens("null")


async def test_it_takes_the_scheme_from_the_tls_proxy_only_when_told_to(
    pong: Any, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["arcade.example.org"]
    host = {"host": "arcade.example.org"}
    assert not await opens("https://arcade.example.org", **host, x_forwarded_proto="https")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await opens("https://arcade.example.org", **host, x_forwarded_proto="https")
    assert not await opens("http://arcade.example.org", **host, x_forwarded_proto="https")


async def test_it_opens_from_a_trusted_origin(pong: Any, settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://play.example.org"]
    assert await opens("https://play.example.org")
    assert not await opens("http://play.example.org")
