"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by Daphne)."""

import asyncio
import os
import sys
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from agents.routing import websocket_urlpatterns as agent_urlpatterns  # noqa: E402
from play import engine  # noqa: E402
from play.origins import SameOriginValidator  # noqa: E402
from play.routing import websocket_urlpatterns  # noqa: E402
from play.wire import ExposeRawSend  # noqa: E402

application = ExposeRawSend(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": URLRouter(
                [
                    # Programs: their API token, no cookie (agents/routing.py).
                    *agent_urlpatterns,
                    # Browsers: scheme, host and port of the Origin, not the host alone
                    # (play/origins.py).
                    re_path(
                        r"",
                        SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
                    ),
                ]
            ),
        }
    )
)

engine.settle_heap()
engine.prewarm_in_background()


def _drain_before_shutdown() -> object:
    # Daphne's reactor (installed before this module is imported) stops on SIGTERM; its own
    # "before shutdown" trigger cancels every socket's application, not our game sessions.
    from twisted.internet import defer

    return defer.Deferred.fromFuture(asyncio.ensure_future(engine.drain()))


if "twisted.internet.reactor" in sys.modules:
    from twisted.internet import reactor

    add_trigger: Any = reactor.addSystemEventTrigger  # type: ignore[attr-defined]
    add_trigger("before", "shutdown", _drain_before_shutdown)
