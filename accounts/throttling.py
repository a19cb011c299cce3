"""How django-axes names the account and the address a login attempt comes from."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account tried: emails are stored lowercased, so its letter case does not count."""
    given = (credentials or {}).get("username") or request.POST.get("username") or ""
    return str(given).strip().lower()


def client_ip(request: HttpRequest) -> str:
    """The address the attempt came from: behind ``ARCADE_PROXY_COUNT`` proxies, the entry of
    X-Forwarded-For that the outermost one added (earlier entries are the client's to forge)."""
    if settings.PROXY_COUNT:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= settings.PROXY_COUNT:
            return forwarded[-settings.PROXY_COUNT]
    return str(request.META.get("REMOTE_ADDR", ""))


def locked_out(
    request: HttpRequest, _response: HttpResponse | None, _credentials: dict[str, Any] | None
) -> HttpResponse:
    """The answer to a login refused while its account or address cools off: 429, and what
    to do about it."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "registration/locked_out.html", context, status=429)
