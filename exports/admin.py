from collections import Counter
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from recording.admin import EpisodeAdmin
from recording.models import Episode

from . import players
from .admin_views import export_file, export_files
from .forms import ExportForm
from .models import AdminExport, ExportedEpisode
from .services import ExportError, admin_export_start


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


@admin.register(AdminExport)
class AdminExportAdmin(admin.ModelAdmin[AdminExport]):
    """The exports asked for from the episode list: how far each got, and its files."""

    list_display = ("__str__", "status", "progress", "requested_by", "requested_at", "download")
    list_filter = ("status", "format")
    readonly_fields = (
        "format",
        "who_played",
        "prefix",
        "status",
        "progress",
        "download",
        "requested_by",
        "requested_at",
        "finished_at",
        "summary",
        "error",
    )
    exclude = ("episode_ids", "played_by", "episodes_total", "episodes_done")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from the episode list's actions

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/files/", wrap(export_files), name="exports_adminexport_files"),
            path("<int:pk>/files/<path:path>", wrap(export_file), name="exports_adminexport_file"),
            *super().get_urls(),
        ]

    @admin.display(description="Who played")
    def who_played(self, export: AdminExport) -> str:
        return export.who_played

    @admin.display(description="Progress")
    def progress(self, export: AdminExport) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {} of {} episode{}',
            export.percent,
            export.episodes_done,
            export.episodes_total,
            pluralize(export.episodes_total),
        )

    @admin.display(description="Download")
    def download(self, export: AdminExport) -> str:
        if export.status != AdminExport.Status.DONE:
            return "-"
        url = reverse("admin:exports_adminexport_files", args=[export.pk])
        return format_html('<a href="{}">download files</a>', url)


# The episode list's export actions are this app's: recording's admin knows nothing of exports
# (docs/architecture.md), so exports registers the episode admin again with them added.
admin.site.unregister(Episode)


@admin.register(Episode)
class ExportableEpisodeAdmin(EpisodeAdmin):
    actions = ("export_minari", "export_parquet")

    def _export(
        self, request: HttpRequest, episodes: QuerySet[Episode], format: str
    ) -> TemplateResponse | None:
        """First the form (whose play of the selection to export), then the export."""
        form = ExportForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                export = admin_export_start(
                    episode_ids=episodes.values_list("pk", flat=True),
                    format=format,
                    user=request.user,
                    played_by=form.cleaned_data["who"],
                )
            except ExportError as exc:
                form.add_error(None, f"{exc}.")
            else:
                self._started(request, export, selected=len(episodes))
                return None
        held = Counter(players.label(players.kinds_of(episode)) for episode in episodes)
        return TemplateResponse(
            request,
            "admin/exports/export_form.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Export {len(episodes)} episodes as {format.capitalize()}",
                "opts": self.model._meta,
                "form": form,
                "action": request.POST.get("action", f"export_{format}"),
                "episodes": episodes,
                "held": sorted(held.items()),
            },
        )

    def _started(self, request: HttpRequest, export: AdminExport, *, selected: int) -> None:
        url = reverse("admin:exports_adminexport_change", args=[export.pk])
        total = export.episodes_total
        chosen = "" if not export.played_by else f" of {selected}, played by {export.who_played},"
        self.message_user(
            request,
            format_html(
                "Exporting {} episode{}{} as {} (RGB); a worker writes it in the background. "
                '<a href="{}">Follow its progress and download it</a>.',
                total,
                pluralize(total),
                chosen,
                export.format.capitalize(),
                url,
            ),
        )

    @admin.action(description="Export selected episodes (Minari)…")
    def export_minari(
        self, request: HttpRequest, queryset: QuerySet[Episode]
    ) -> TemplateResponse | None:
        return self._export(request, queryset, "minari")

    @admin.action(description="Export selected episodes (Parquet)…")
    def export_parquet(
        self, request: HttpRequest, queryset: QuerySet[Episode]
    ) -> TemplateResponse | None:
        return self._export(request, queryset, "parquet")
