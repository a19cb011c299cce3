"""The spectator's page: a live match's frames, read-only."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from recording.models import Episode, EpisodeSeat


@login_required
def watch(request: HttpRequest, episode: uuid.UUID) -> HttpResponse:
    """Staff watch any live game; a player watches the games they hold a seat in."""
    found = Episode.objects.select_related("game").filter(pk=episode).first()
    if found is None:
        raise Http404("No such game.")
    seats = EpisodeSeat.objects.filter(episode=found).select_related("user", "policy")
    if not request.user.is_staff and not seats.filter(user_id=request.user.pk or 0).exists():
        raise PermissionDenied("You may watch the games you play in.")
    players = []
    for seat in seats:
        if seat.user is not None:
            players.append(seat.user.get_username())
        elif seat.policy is not None:
            players.append(f"{seat.policy.name} (AI)")
    context = {
        "game": found.game,
        "ws_path": f"/ws/watch/{found.pk}/",  # routed by play.routing
        "mode": "watch",
        "episode": found,
        "players": sorted(set(players)),
    }
    return render(request, "games/play.html", context)
