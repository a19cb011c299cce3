"""A study's dashboard in the admin: its participants, times, games and problem reports.

Behind the admin's staff check, and the view permission on studies: the page shows no
recruitment id, only counts, times, scores and the problem reports' text.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import dashboard
from .models import Study


def study_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    """One study's figures and plots, counted when the page is asked for."""
    if not request.user.has_perm("studies.view_study"):
        raise PermissionDenied("The dashboard needs the “view study” permission.")
    study = get_object_or_404(Study, pk=pk)
    context = {
        **admin.site.each_context(request),
        "title": f"Dashboard: {study.title}",
        "study": study,
        "figures": dashboard.summary(study),
        "opts": Study._meta,
    }
    return render(request, "admin/studies/dashboard.html", context)
