"""The admin's frame viewer for a recorded episode."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from games.services import thumbnail_png

from .models import Chunk, Episode
from .services import episode_frame_rgb


def episode_frames(request: HttpRequest, pk: str) -> HttpResponse:
    """Step through a recorded episode frame by frame, with each step's action and reward."""
    episode = get_object_or_404(Episode.objects.select_related("game", "user"), pk=pk)
    number = min(max(int(request.GET.get("frame", 0) or 0), 0), episode.steps)
    transition = episode.transitions.filter(step=number).first()
    context = {
        **admin.site.each_context(request),
        "title": f"Frames of {episode}",
        "episode": episode,
        "number": number,
        "transition": transition,
        "meanings": episode.env_spec.get("action_meanings", []),
        "opts": Episode._meta,
    }
    return render(request, "admin/recording/episode_frames.html", context)


def episode_frame_png(request: HttpRequest, pk: str, number: int) -> HttpResponse:
    """One stored frame as a PNG."""
    episode = get_object_or_404(Episode, pk=pk)
    try:
        rgb = episode_frame_rgb(episode=episode, number=number)
    except Chunk.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    return HttpResponse(thumbnail_png(rgb), content_type="image/png")
