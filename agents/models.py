"""API tokens: how a program plays through Arcade as its owner.

A token is shown once, when it is made, and stored as its SHA-256 digest (it is 256 random
bits: a slow hash would add nothing), with a short prefix to recognise it by. Revoked, it opens
nothing, and the sessions it holds are closed (``agents.services.revoke``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What it is for: a script, a cluster.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    max_sessions = models.PositiveIntegerField(
        default=16, validators=[MinValueValidator(1)],
        help_text="Sessions it may hold at once, across every web process.",
    )  # fmt: skip
    max_steps_per_second = models.PositiveIntegerField(
        default=20_000, validators=[MinValueValidator(1)],
        help_text="Steps a second over all its sessions on one web process.",
    )  # fmt: skip
    idle_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1)],
        help_text="A session with no message for this long is closed.",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
