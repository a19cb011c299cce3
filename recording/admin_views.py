"""The admin's frame viewer for a recorded episode."""

from __future__ import annotations

import io

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from PIL import Image

from games.services import thumbnail_png

from .frames import chunk_frames_rgb, episode_frame_rgb
from .models import Chunk, Episode


def episode_frames(request: HttpRequest, pk: str) -> HttpResponse:
    """Step through a recorded episode frame by frame, with each step's action and reward."""
    episode = get_object_or_404(Episode.objects.select_related("game", "user"), pk=pk)
    asked = request.GET.get("frame", "").strip() or "0"
    try:
        number = min(max(int(asked), 0), episode.steps)
    except ValueError:
        return HttpResponseBadRequest(
            f"frame={asked!r} is not a frame number: give a whole number from 0 to "
            f"{episode.steps}, e.g. ?frame=0.",
            content_type="text/plain; charset=utf-8",
        )
    transition = episode.transitions.filter(step=number).first()
    context = {
        **admin.site.each_context(request),
        "title": f"Frames of {episode}",
        "episode": episode,
        "number": number,
        "transition": transition,
        "action_name": action_name(episode, transition.action) if transition else "",
        "opts": Episode._meta,
    }
    return render(request, "admin/recording/episode_frames.html", context)


def action_name(episode: Episode, action: int) -> str:
    """The env's name for an action ("RIGHTFIRE"), as frozen on the episode at its start."""
    meanings = episode.env_spec.get("action_meanings") or []
    return str(meanings[action]) if 0 <= action < len(meanings) else f"action {action}"


def episode_frame_png(request: HttpRequest, pk: str, number: int) -> HttpResponse:
    """One stored frame as a PNG."""
    episode = get_object_or_404(Episode, pk=pk)
    try:
        rgb = episode_frame_rgb(episode=episode, number=number)
    except Chunk.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    return HttpResponse(thumbnail_png(rgb), content_type="image/png")


def episode_playback(request: HttpRequest, pk: str) -> HttpResponse:
    """Play a recorded episode in the browser at the game's rate, with play, pause and step."""
    episode = get_object_or_404(Episode.objects.select_related("game", "user"), pk=pk)
    chunks = list(episode.chunks.order_by("index").values("index", "first_frame", "n_frames"))
    context = {
        **admin.site.each_context(request),
        "title": f"Playback of {episode}",
        "episode": episode,
        "playback": {
            "fps": int(episode.env_spec.get("fps") or 60),
            "frames": sum(chunk["n_frames"] for chunk in chunks),
            "shape": list(episode.frame_shape[:2]),
            "chunks": chunks,
        },
        "opts": Episode._meta,
    }
    return render(request, "admin/recording/episode_playback.html", context)


def episode_strip_png(request: HttpRequest, pk: str, index: int) -> HttpResponse:
    """The frames of one chunk stacked top to bottom in one PNG: playback loads one a second."""
    episode = get_object_or_404(Episode, pk=pk)
    try:
        rgb = chunk_frames_rgb(episode=episode, index=index)
    except Chunk.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    buffer = io.BytesIO()
    # Fast compression: a strip is made on demand and Atari screens compress well anyway.
    Image.fromarray(rgb.reshape(-1, *rgb.shape[2:])).save(buffer, "PNG", compress_level=1)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"  # a stored chunk never changes
    return response
