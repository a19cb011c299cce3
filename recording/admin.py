from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .admin_views import episode_frame_png, episode_frames, episode_playback, episode_strip_png
from .models import Chunk, Episode, EpisodeQuerySet, EpisodeSeat, Transition


class EstimatedCountPaginator(Paginator):
    """Counting a large transitions table is slow: estimate it when the list is unfiltered."""

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        query = self.object_list.query if isinstance(self.object_list, QuerySet) else None
        if query is not None and not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [Transition._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


class ChunkInline(admin.TabularInline[Chunk, Episode]):
    model = Chunk
    extra = 0
    can_delete = False
    fields = ("index", "first_frame", "n_frames", "n_steps", "keyframe", "size", "stored_as")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="File")
    def stored_as(self, chunk: Chunk) -> str:
        # Its name only: recordings have no public URL (view frames and play read them).
        return str(chunk.file.name)


class EpisodeSeatInline(admin.TabularInline[EpisodeSeat, Episode]):
    model = EpisodeSeat
    extra = 0
    can_delete = False
    fields = ("index", "role", "kind", "user", "policy", "from_step")
    readonly_fields = fields
    verbose_name = "seat holder"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LiveFilter(admin.SimpleListFilter):
    """Episodes being played now: active, and their live session beat recently."""

    title = "live now"
    parameter_name = "live"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Being played now")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Episode]) -> QuerySet[Episode]:
        if self.value() != "yes":
            return queryset
        since = timezone.now() - _live_within()
        return queryset.filter(status=Episode.Status.ACTIVE).filter(
            Q(heartbeat_at__gte=since) | Q(heartbeat_at__isnull=True, started_at__gte=since)
        )


def _live_within() -> timedelta:
    # Beats come every HEARTBEAT_SECONDS; two missed ones and the game is not live any more.
    return timedelta(seconds=2 * settings.ARCADE["HEARTBEAT_SECONDS"] + 1)


def _live(episode: Episode) -> bool:
    if episode.status != Episode.Status.ACTIVE:
        return False
    last = episode.heartbeat_at or episode.started_at
    return last >= timezone.now() - _live_within()


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin[Episode]):
    list_display = (
        "short_id",
        "game",
        "players",
        "status",
        # Beside the status, not last: the list is wider than a laptop's screen, and staff
        # who filter the games being played now came for this link.
        "watch_link",
        "end_reason",
        "steps",
        "total_return",
        "replay",
        "started_at",
        "transitions_link",
        "frames_link",
    )
    list_filter = (
        LiveFilter,
        "status",
        "verification",
        "end_reason",
        "game",
        ("seats__kind", admin.ChoicesFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        "started_at",
    )
    # A game of several players is found by any of them, not only by its first seat's.
    search_fields = ("uuid", "user__email", "seats__user__email")
    date_hierarchy = "started_at"
    list_select_related = ("game", "user")
    raw_id_fields = ("user",)
    readonly_fields = [f.name for f in Episode._meta.fields] + ["transitions_link", "frames_link"]
    inlines = (EpisodeSeatInline, ChunkInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Episode]:
        # What the list's columns read, fetched for the whole page at once, not row by row.
        episodes = cast(EpisodeQuerySet, super().get_queryset(request))
        return episodes.with_holders().annotate(
            has_chunks=Exists(Chunk.objects.filter(episode=OuterRef("pk")))
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<uuid:pk>/frames/", wrap(episode_frames), name="recording_episode_frames"),
            path(
                "<uuid:pk>/frames/<int:number>.png",
                wrap(episode_frame_png),
                name="recording_episode_frame_png",
            ),
            path("<uuid:pk>/play/", wrap(episode_playback), name="recording_episode_playback"),
            path(
                "<uuid:pk>/play/<int:index>.png",
                wrap(episode_strip_png),
                name="recording_episode_strip_png",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Players", ordering="user__email")
    def players(self, episode: Episode) -> str:
        """Who held each seat: a game of several players lists every seat, not only the
        first person's (the episode's ``user``)."""
        lineup = episode.lineup
        if not lineup:
            return episode.user.get_username()
        if len(lineup) == 1:
            return " then ".join(lineup[0].accounts)
        return format_html_join(mark_safe("<br>"), "{}", ((line.for_staff(),) for line in lineup))

    @admin.display(description="Frames")
    def frames_link(self, episode: Episode) -> str:
        stored = getattr(episode, "has_chunks", None)  # get_queryset's, for every row at once
        if not (episode.chunks.exists() if stored is None else stored):
            return "-"
        url = reverse("admin:recording_episode_frames", args=[episode.pk])
        play = reverse("admin:recording_episode_playback", args=[episode.pk])
        return format_html('<a href="{}">view frames</a> · <a href="{}">play</a>', url, play)

    @admin.display(description="Live")
    def watch_link(self, episode: Episode) -> str:
        """A spectator's view of a game being played now (play's watch page)."""
        if not _live(episode):
            return "-"
        return format_html('<a href="{}">Watch</a>', reverse("play:watch", args=[episode.pk]))

    @admin.display(description="Replay", ordering="verification")
    def replay(self, episode: Episode) -> str:
        """The verdict, with the first difference or the reason on hover."""
        return format_html(
            '<span title="{}">{}</span>',
            episode.verification_detail,
            episode.verification.capitalize(),
        )

    @admin.display(description="Episode", ordering="uuid")
    def short_id(self, episode: Episode) -> str:
        return str(episode.uuid)[:8]

    @admin.display(description="Transitions")
    def transitions_link(self, episode: Episode) -> str:
        url = (
            reverse("admin:recording_transition_changelist") + f"?episode__uuid__exact={episode.pk}"
        )
        return format_html('<a href="{}">{} steps</a>', url, episode.steps)


@admin.register(Transition)
class TransitionAdmin(admin.ModelAdmin[Transition]):
    list_display = (
        "episode",
        "step",
        "action",
        "reward",
        "terminated",
        "truncated",
        "input_seq",
        "t_step",
    )
    list_filter = ("terminated", "truncated")
    list_select_related = ("episode__game",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 200
    readonly_fields = [f.name for f in Transition._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
