import io

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from PIL import Image

from .frames import chunk_frames_rgb
from .models import Chunk, Episode


@login_required
def my_episodes(request: HttpRequest) -> HttpResponse:
    """The signed-in player's recorded episodes, newest first."""
    episodes = (
        Episode.objects.for_player(request.user).with_stored_steps().with_seats_of(request.user)
    )
    page_obj = Paginator(episodes, 25).get_page(request.GET.get("page"))
    return render(request, "recording/my_episodes.html", {"page_obj": page_obj})


@login_required
def my_episode_replay(request: HttpRequest, pk: str) -> HttpResponse:
    """Watch one of the player's own episodes again, at the game's rate."""
    episode = get_object_or_404(
        Episode.objects.for_player(request.user).with_seats_of(request.user), pk=pk
    )
    chunks = list(episode.chunks.order_by("index").values("index", "first_frame", "n_frames"))
    playback = {
        "fps": int(episode.env_spec.get("fps") or 60),
        "frames": sum(chunk["n_frames"] for chunk in chunks),
        "shape": list(episode.frame_shape[:2]),
        "chunks": chunks,
    }
    return render(request, "recording/replay.html", {"episode": episode, "playback": playback})


@login_required
def my_episode_strip(request: HttpRequest, pk: str, index: int) -> HttpResponse:
    """One chunk's frames of the player's own episode, stacked top to bottom in one PNG."""
    episode = get_object_or_404(Episode.objects.for_player(request.user), pk=pk)
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
