"""Making, finding and revoking API tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .models import ApiToken

PREFIX = "arc_"
# ``last_used_at`` is written at most this often: an agent authenticates on every socket.
USED_EVERY = timedelta(minutes=1)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the token itself, which is never stored."""
    prefix = secrets.token_hex(4)
    raw = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "agent", prefix=prefix, digest=digest(raw)
    )
    return token, raw


def token_group(token_id: int) -> str:
    """The channel-layer group of a token's open sessions, on every web process."""
    return f"agents.token.{token_id}"


def revoke(token: ApiToken) -> bool:
    """Revoke it (once): it opens nothing from now on, and its open sessions are told and
    closed. True when it was active."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    if revoked:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(token_group(token.pk), {"type": "token.revoked"})
    return bool(revoked)


def find(raw: str) -> ApiToken | None:
    """The active token ``raw`` is, with its user; None for a wrong or revoked one."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def from_headers(headers: Mapping[str, str]) -> str:
    """The token a request carries in a header, never the URL: ``Authorization: Bearer
    <token>``, or Basic with the token as the password (what a client sends for a URL's
    ``user:token@``, as OpenEnv's client does), or ``X-Arcade-Token``. "" when none."""
    authorization = headers.get("authorization", "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return headers.get("x-arcade-token", "").strip()
