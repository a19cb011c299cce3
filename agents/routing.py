from django.urls import path

from .consumers import AgentConsumer

# A program's socket, where OpenEnv's client looks for it (``<base_url>/ws``). Outside the
# browsers' stack: it authenticates by its token, not a session cookie, so no Origin check.
websocket_urlpatterns = [path("ws", AgentConsumer.as_asgi(), name="agent-socket")]
