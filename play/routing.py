from django.urls import path, re_path

from .consumers import NoSuchSocket, PlayConsumer
from .roomsockets import MatchConsumer, WatchConsumer

websocket_urlpatterns = [
    path("ws/play/<slug:slug>/", PlayConsumer.as_asgi(), name="play-socket"),
    path("ws/match/<slug:slug>/", MatchConsumer.as_asgi(), name="match-socket"),
    path("ws/watch/<str:episode>/", WatchConsumer.as_asgi(), name="watch-socket"),
    # Anything else is a client's mistake: a close code and one log line, not a traceback.
    re_path(r"", NoSuchSocket.as_asgi(), name="no-such-socket"),
]
