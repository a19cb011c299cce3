"""Arcade's URLs and ``/bench/plain/<study>/?bytes=N``: the plain Django page a study page is
compared with. It is what a page of a site with accounts is: the signed-in browser's session
and user read, and the one row it shows (here the study, as a ``DetailView`` would) rendered in
the study pages' base template, padded to N bytes. The padding's length is found once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import path

from arcade.urls import urlpatterns as arcade_urlpatterns
from studies.models import Study

_PLAIN = engines["django"].from_string(
    '{% extends "studies/base.html" %}{% block content %}<p>{{ filler }}</p>{% endblock %}'
)
_empty: dict[str, int] = {}  # the page's length with no padding, by study


def plain(request: HttpRequest, slug: str) -> HttpResponse:
    if not request.user.is_authenticated:  # the session and the user, read as on any page
        return HttpResponse(status=403)
    study = get_object_or_404(Study, slug=slug)
    wanted = min(int(request.GET.get("bytes", "2000") or 2000), 1_000_000)
    if slug not in _empty:
        _empty[slug] = len(_PLAIN.render({"study": study, "filler": ""}, request).encode())
    filler = "x" * max(0, wanted - _empty[slug])
    return HttpResponse(_PLAIN.render({"study": study, "filler": filler}, request))


urlpatterns = [path("bench/plain/<slug:slug>/", plain), *arcade_urlpatterns]
