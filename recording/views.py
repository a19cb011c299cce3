from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Episode


@login_required
def my_episodes(request: HttpRequest) -> HttpResponse:
    """The signed-in player's recorded episodes, newest first."""
    episodes = Episode.objects.for_player(request.user)
    page_obj = Paginator(episodes, 25).get_page(request.GET.get("page"))
    return render(request, "recording/my_episodes.html", {"page_obj": page_obj})
