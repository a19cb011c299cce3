from django.urls import path

from .consumers import PlayConsumer

websocket_urlpatterns = [
    path("ws/play/<slug:slug>/", PlayConsumer.as_asgi(), name="play-socket"),
]
