from __future__ import annotations

from django.db import models


class ExportedEpisode(models.Model):
    """One episode written to one destination: what makes a second export add only new ones."""

    destination = models.CharField(max_length=500)
    episode = models.ForeignKey(
        "recording.Episode", on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=16)
    observation = models.CharField(max_length=16)
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
