from __future__ import annotations

from django.conf import settings
from django.db import models

from .players import NotAFilter, PlayedBy


class ExportedEpisode(models.Model):
    """One episode written to one destination: what makes a second export add only new ones."""

    destination = models.CharField(max_length=500)
    episode = models.ForeignKey(
        "recording.Episode", on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=16)
    observation = models.CharField(max_length=16)
    # The filter on who played it was chosen by (``exports.players.PlayedBy.as_json``; {}:
    # everyone): a destination is one dataset, its card stating one filter.
    played_by = models.JSONField(default=dict, blank=True)
    # Where in the destination: the Minari dataset id, or the Parquet part file.
    location = models.CharField(max_length=300)
    exported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("destination", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "episode"], name="unique_export_per_destination"
            )
        ]

    def __str__(self) -> str:
        return f"{self.episode_id} in {self.destination}"


class AdminExport(models.Model):
    """One export an admin asked for from the episode list: its progress and where it went.

    Its files stay private in the default storage; staff download them through the admin
    (``exports/admin_views.py``), never from a public URL.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=16)
    episode_ids = models.JSONField(default=list)
    # Of those, whose play to export (``exports.players.PlayedBy.as_json``; {}: everyone's),
    # kept so that the export can be run again the same way.
    played_by = models.JSONField(default=dict, blank=True)
    # A storage prefix ("exports/admin/..."): the export's files are everything under it.
    prefix = models.CharField(max_length=300, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    episodes_total = models.PositiveIntegerField(default=0)
    episodes_done = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-requested_at", "-id")

    def __str__(self) -> str:
        return f"{self.format} export {self.prefix}"

    @property
    def who_played(self) -> str:
        """The filter on who played, in words."""
        try:
            return str(PlayedBy.from_json(self.played_by))
        except NotAFilter as exc:
            return f"unreadable filter {self.played_by!r}: {exc}"

    @property
    def destination(self) -> str:
        return f"storage:{self.prefix}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.episodes_total:
            return 0
        return min(100, 100 * self.episodes_done // self.episodes_total)
