from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Game


def library(request: HttpRequest) -> HttpResponse:
    """The home page: every playable game."""
    return render(request, "games/library.html", {"games": Game.objects.playable()})


def detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A game's instructions and controls (a multi-seat game's per seat), with Start."""
    game = get_object_or_404(Game.objects.playable().prefetch_related("seats__policy"), slug=slug)
    seats = game.seats_in_force() if game.is_multi_seat else []
    return render(request, "games/detail.html", {"game": game, "seats": seats})


@login_required
def play(request: HttpRequest, slug: str) -> HttpResponse:
    """The play view: the canvas and the socket that drives it."""
    game = get_object_or_404(Game.objects.playable(), slug=slug)
    # Routed by play.routing, not urls.py: a game of several seats has its waiting room.
    if game.is_multi_seat:
        mode, ws_path = "match", f"/ws/match/{game.slug}/"
    else:
        mode, ws_path = "play", f"/ws/play/{game.slug}/"
    context = {"game": game, "ws_path": ws_path, "mode": mode}
    return render(request, "games/play.html", context)
