"""What the probes ask: is this process alive, can it take players, are its dependencies up.

- ``/livez``: 200 while the process serves requests. For liveness probes: a restart cures
  only this.
- ``/readyz``: 200 when the database and Redis answer and this process has prewarmed its
  games. For compose's health check, Cloud Run's startup probe and load balancers.
- ``/healthz``: 200 when the database, Redis, storage and at least one Celery worker answer.
  For monitoring and deploy smoke tests.

Each answers JSON: ``{"ok": bool, "checks": {name: "ok" or the error}}``, 503 when not ok.
Served by a middleware placed first, so a probe needs no session or CSRF token, and
``/livez`` and ``/readyz`` no allowed Host header (Cloud Run probes by the container's address);
``/healthz`` answers only requests by an allowed host name.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

Check = Callable[[], None]


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    from recording import transfer

    transfer.client().ping()


def _storage() -> None:
    default_storage.exists("health-probe")  # any answer, found or not, means reachable


def _workers() -> None:
    from arcade.celery import app

    if not app.control.ping(timeout=1.0):
        raise RuntimeError("no Celery worker answered within 1 s")


def _prewarm() -> None:
    from play.engine import prewarmed

    if not prewarmed.is_set():
        raise RuntimeError("still building emulators and start states")


# /livez and /readyz answer any Host (Cloud Run probes by the container's address); /healthz
# tells what is broken and why, so only a request by an allowed name gets it.
HOST_CHECKED = frozenset({"/healthz"})

PROBES: dict[str, dict[str, Check]] = {
    "/livez": {},
    "/readyz": {"database": _database, "redis": _redis, "prewarm": _prewarm},
    "/healthz": {
        "database": _database,
        "redis": _redis,
        "storage": _storage,
        "workers": _workers,
    },
}


def probe(checks: dict[str, Check]) -> tuple[bool, dict[str, str]]:
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"[:300]
    return all(result == "ok" for result in results.values()), results


class HealthMiddleware:
    """Answers the probe paths before any other middleware sees the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        checks = PROBES.get(request.path_info)
        if checks is None:
            return self.get_response(request)
        if request.path_info in HOST_CHECKED:
            try:
                request.get_host()
            except DisallowedHost:
                # Its answer names the dependencies and their errors: not for any address.
                return JsonResponse(
                    {"ok": False, "error": "Host not allowed: ask by a name in ALLOWED_HOSTS."},
                    status=400,
                )
        ok, results = probe(checks)
        return JsonResponse({"ok": ok, "checks": results}, status=200 if ok else 503)
