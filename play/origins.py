"""The play socket accepts only pages of this site: same scheme, host and port.

Channels' ``AllowedHostsOriginValidator`` compares the Origin's host with ALLOWED_HOSTS and
ignores scheme and port, so a page at ``http://arcade.example:8080`` (another service on the
same host, or plain HTTP on a site served over HTTPS) could open a signed-in player's socket.
Here, as Django's CSRF check does for forms, the Origin must be exactly the origin the socket
was opened on (the socket's scheme, ws→http and wss→https, or the TLS proxy's
X-Forwarded-Proto when SECURE_PROXY_SSL_HEADER trusts it; the Host header, which must be an
allowed host), or one of CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443"}


def _normal(scheme: str, host: str) -> str:
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    domain, port = split_domain_port(host.lower())
    if not domain:
        return ""
    if port == DEFAULT_PORTS.get(scheme):
        port = ""
    shown = f"[{domain}]" if ":" in domain else domain  # IPv6 literals keep their brackets
    return f"{scheme}://{shown}" + (f":{port}" if port else "")


def _origin(value: str) -> str:
    scheme, sep, rest = value.strip().partition("://")
    if not sep or "/" in rest:
        return ""
    return _normal(scheme.lower(), rest)


def socket_origin(scope: dict[str, Any]) -> str:
    """The origin of the page that may open this socket, or "" when its Host is not allowed."""
    headers = {name.decode("latin1").lower(): value for name, value in scope.get("headers", [])}
    host = headers.get("host", b"").decode("latin1")
    domain, _port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return ""
    scheme = "https" if scope.get("scheme", "ws") == "wss" else "http"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower()
        forwarded = headers.get(name, b"").decode("latin1").split(",")[0].strip()
        if forwarded:
            scheme = "https" if forwarded == secure else "http"
    return _normal(scheme, host)


def origin_allowed(scope: dict[str, Any]) -> bool:
    origins = [v for n, v in scope.get("headers", []) if n.lower() == b"origin"]
    if len(origins) != 1:
        return False
    given = _origin(origins[0].decode("latin1"))
    if not given:
        return False
    own = socket_origin(scope)
    trusted = {_origin(origin) for origin in settings.CSRF_TRUSTED_ORIGINS}
    return (bool(own) and given == own) or given in trusted


class SameOriginValidator:
    """ASGI middleware: a socket whose Origin is not this site's is refused (HTTP 403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
