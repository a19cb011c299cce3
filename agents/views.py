"""The account's API tokens: made, listed and revoked by their owner."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .models import ApiToken

MOST_TOKENS = 50  # active ones an account may hold


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    made = None
    error = ""
    owned = ApiToken.objects.filter(user=request.user.pk)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            error = "Name the token (what will use it), to tell it apart later."
        elif len(name) > 100:
            error = "Keep the name under 100 characters."
        elif owned.filter(revoked_at__isnull=True).count() >= MOST_TOKENS:
            error = f"An account holds at most {MOST_TOKENS} active tokens: revoke one first."
        else:
            _, made = services.issue(request.user, name)
    listed = owned[:200]
    return render(
        request,
        "agents/tokens.html",
        {"tokens": listed, "made": made, "error": error},
        status=400 if error else 200,
    )


@login_required
@require_POST
def revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, prefix=prefix, user=request.user)
    if services.revoke(token):
        messages.success(request, f"Revoked {token.name}: its sessions are closed.")
    return redirect("agents:tokens")
