"""The spectator's page: a live match's frames, read-only."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from recording.models import Episode


@login_required
def watch(request: HttpRequest, episode: uuid.UUID) -> HttpResponse:
    """Staff watch any live game; a player watches the games they hold a seat in."""
    found = Episode.objects.select_related("game").with_holders().filter(pk=episode).first()
    if found is None:
        raise Http404("No such game.")
    seated = any(seat.user_id == request.user.pk for seat in found.seats.all())
    if not request.user.is_staff and not seated:
        raise PermissionDenied("You may watch the games you play in.")
    lineup = found.lineup
    context = {
        "game": found.game,
        "ws_path": f"/ws/watch/{found.pk}/",  # routed by play.routing
        "mode": "watch",
        "episode": found,
        # A game of several seats: each seat's score and who holds it (frames carry one).
        "lineup": lineup if len(lineup) > 1 else [],
        "players": sorted({name for seat in lineup for name in seat.holders} - {"nobody"}),
    }
    return render(request, "games/play.html", context)
