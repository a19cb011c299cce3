from __future__ import annotations

from typing import Any

from django.db import models

from .engine.keymap import KeyMap
from .engine.machines import GameConfig
from .engine.registry import is_atari


class GameQuerySet(models.QuerySet["Game"]):
    def playable(self) -> GameQuerySet:
        return self.filter(enabled=True).order_by("display_order", "title")


class Game(models.Model):
    """One entry of the catalogue: a Gymnasium env and how people play it."""

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=100)
    short_description = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True, help_text="Shown before play.")
    controls = models.TextField(blank=True, help_text="Which keys do what, shown before play.")
    env_id = models.CharField(
        max_length=200, help_text="A registered Gymnasium id, e.g. ALE/Pong-v5."
    )
    env_kwargs = models.JSONField(default=dict, blank=True)
    fps = models.PositiveSmallIntegerField(default=60)
    turn_based = models.BooleanField(
        default=False, help_text="Step once per key press instead of on the clock."
    )
    key_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"keys": {code: name}, "combos": {"NAME+NAME": action}}. '
        "Left empty, it is derived from the env's action meanings.",
    )
    default_action = models.PositiveSmallIntegerField(
        default=0, help_text="Played while no key is held."
    )
    max_steps = models.PositiveIntegerField(
        default=36_000, help_text="Episodes are truncated after this many steps."
    )
    enabled = models.BooleanField(default=True)
    display_order = models.IntegerField(default=0)
    thumbnail = models.ImageField(upload_to="thumbnails/", blank=True)
    # Filled when the env is checked on save: what the engine needs without building it.
    action_meanings = models.JSONField(default=list, blank=True, editable=False)
    frame_shape = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GameQuerySet.as_manager()

    class Meta:
        ordering = ("display_order", "title")

    def __str__(self) -> str:
        return self.title

    @property
    def is_atari(self) -> bool:
        return is_atari(self.env_id)

    @property
    def thumbnail_url(self) -> str:
        return self.thumbnail.url if self.thumbnail else ""

    def keymap(self) -> KeyMap:
        return KeyMap(
            self.key_map,
            default_action=self.default_action,
            n_actions=max(len(self.action_meanings), 1),
        )

    def config(self) -> GameConfig:
        """What the live engine needs, as a plain value."""
        return GameConfig(
            slug=self.slug,
            title=self.title,
            env_id=self.env_id,
            env_kwargs=dict(self.env_kwargs),
            fps=self.fps,
            turn_based=self.turn_based,
            key_map=dict(self.key_map),
            default_action=self.default_action,
            max_steps=self.max_steps,
            n_actions=len(self.action_meanings),
        )

    def env_spec(self) -> dict[str, Any]:
        """Frozen on every episode so it can be replayed exactly."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "fps": self.fps,
            "turn_based": self.turn_based,
            "key_map": self.key_map,
            "default_action": self.default_action,
            "max_steps": self.max_steps,
            "action_meanings": self.action_meanings,
            "frame_shape": self.frame_shape,
        }
