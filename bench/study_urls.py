"""Arcade's URLs and ``/bench/plain/?bytes=N``: the study pages' base template, padded to N
bytes, with no query of its own. What a study page costs beyond a plain Django page."""

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from arcade.urls import urlpatterns as arcade_urlpatterns

_PLAIN = engines["django"].from_string(
    '{% extends "studies/base.html" %}{% block content %}<p>{{ filler }}</p>{% endblock %}'
)


def plain(request: HttpRequest) -> HttpResponse:
    wanted = min(int(request.GET.get("bytes", "2000") or 2000), 1_000_000)
    empty = len(_PLAIN.render({"filler": ""}, request).encode())
    return HttpResponse(_PLAIN.render({"filler": "x" * max(0, wanted - empty)}, request))


urlpatterns = [path("bench/plain/", plain), *arcade_urlpatterns]
