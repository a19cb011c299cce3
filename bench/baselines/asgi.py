"""The benchmark's ASGI app: Arcade's play socket and the naive baseline, side by side.

Serve it with ``daphne bench.baselines.asgi:application``. The stack is arcade/asgi.py's, so
both designs pay the same origin check and session lookup. Machines are not prewarmed: our
consumer's pool fills lazily, as the naive design builds its env on every start.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from play.consumers import PlayConsumer  # noqa: E402

from .naive import NaiveConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/play/<slug:slug>/", PlayConsumer.as_asgi(), name="play-socket"),
    path("ws/naive/<slug:slug>/", NaiveConsumer.as_asgi(), name="naive-socket"),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
