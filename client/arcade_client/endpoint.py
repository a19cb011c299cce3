"""Where a client connects and how it says who it is: the server's address and the API token.

Both may come from the environment (``ARCADE_URL``, ``ARCADE_TOKEN``), so training code names
neither and a token stays out of scripts and their logs. The token travels in the
``Authorization`` header only: a URL ends up in proxies' and servers' logs.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
TIMEOUT = 60.0  # seconds a reply may take
OPEN_TIMEOUT = 10.0  # seconds the socket may take to open
# A JSON RGB screen is about 400 KB of text; websockets refuses messages over 1 MiB by default.
MAX_MESSAGE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """How a client (synchronous or asyncio) reaches the server, read and checked once:
    ``Settings.of(url, token, ...)``."""

    url: str
    # Not in the repr: it holds the token, and a repr ends up in logs.
    headers: dict[str, str] = field(repr=False)
    timeout: float | None = TIMEOUT
    open_timeout: float = OPEN_TIMEOUT

    @classmethod
    def of(
        cls,
        url: str | None,
        token: str | None,
        *,
        timeout: float | None = TIMEOUT,
        open_timeout: float = OPEN_TIMEOUT,
    ) -> Settings:
        """From a constructor's arguments, or ``ARCADE_URL`` and ``ARCADE_TOKEN``; ValueError
        saying what to pass when either is missing or wrong."""
        return cls(socket_url(url), headers(token), timeout, open_timeout)

    def connect_options(self) -> dict[str, Any]:
        """websockets' ``connect`` keywords (either client's: they take the same)."""
        return {
            "additional_headers": self.headers,
            "open_timeout": self.open_timeout,
            "max_size": MAX_MESSAGE,
        }


def socket_url(url: str | None = None) -> str:
    """The agent socket's address (``ws://host:port/ws``) from the server's, in either scheme."""
    url = url or os.environ.get("ARCADE_URL")
    if not url:
        raise ValueError("Name the server: url='ws://host:port/ws', or set ARCADE_URL.")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"The server's address starts ws://, wss://, http:// or https://: {url}")
    if parts.username or parts.password:
        raise ValueError("Pass the token as token=... (or ARCADE_TOKEN), not inside the URL.")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((SCHEMES[parts.scheme], parts.netloc, path, parts.query, ""))


def http_url(url: str | None, path: str) -> str:
    """An HTTP endpoint of the same server (``/metadata``), from the socket's address."""
    parts = urlsplit(socket_url(url))
    base = parts.path.removesuffix("/ws")
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, base + path, "", ""))


def headers(token: str | None = None) -> dict[str, str]:
    token = token or os.environ.get("ARCADE_TOKEN")
    if not token:
        raise ValueError(
            "Pass an API token as token=... or set ARCADE_TOKEN; make one on your Arcade "
            "account page (API tokens)."
        )
    return {"Authorization": f"Bearer {token}"}


def get_json(url: str | None, path: str, token: str | None, timeout: float = 10.0) -> Any:
    """GET an HTTP endpoint of the server, as JSON (``urllib``: no dependency for one request)."""
    request = urllib.request.Request(http_url(url, path), headers=headers(token))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)
