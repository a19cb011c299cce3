from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ExportedEpisode


@admin.register(ExportedEpisode)
class ExportedEpisodeAdmin(admin.ModelAdmin[ExportedEpisode]):
    """What went where. Deleting rows lets a destination take those episodes again."""

    list_display = ("destination", "episode", "format", "observation", "location", "exported_at")
    list_filter = ("format", "observation", "destination")
    search_fields = ("destination", "episode__uuid")
    list_select_related = ("episode__game",)
    readonly_fields = [f.name for f in ExportedEpisode._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
