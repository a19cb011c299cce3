from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.html import format_html

from .models import Game, Policy
from .services import game_prepare, policy_check


class GameForm(forms.ModelForm[Game]):
    class Meta:
        model = Game
        fields = (
            "title",
            "slug",
            "enabled",
            "display_order",
            "thumbnail",
            "short_description",
            "instructions",
            "controls",
            "env_id",
            "env_kwargs",
            "fps",
            "turn_based",
            "max_steps",
            "key_map",
            "default_action",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        # Build the env once now, so a bad id or kwargs is a form error, never a crash at play.
        game: Game = self.instance
        for name, value in cleaned.items():
            setattr(game, name, value)
        try:
            game_prepare(game)
        except ValidationError as exc:
            raise ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            ) from exc
        cleaned["env_kwargs"] = game.env_kwargs
        cleaned["key_map"] = game.key_map
        return cleaned


@admin.register(Game)
class GameAdmin(admin.ModelAdmin[Game]):
    form = GameForm
    list_display = ("title", "preview", "env_id", "fps", "turn_based", "enabled", "display_order")
    list_editable = ("enabled", "display_order")
    list_filter = ("enabled", "turn_based")
    search_fields = ("title", "slug", "env_id")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("action_meanings", "frame_shape", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "slug", "enabled", "display_order", "thumbnail")}),
        ("Shown to players", {"fields": ("short_description", "instructions", "controls")}),
        (
            "Environment",
            {"fields": ("env_id", "env_kwargs", "fps", "turn_based", "max_steps")},
        ),
        ("Keys", {"fields": ("key_map", "default_action", "action_meanings")}),
        ("Read from the env", {"fields": ("frame_shape", "created_at", "updated_at")}),
    )

    @admin.display(description="Thumbnail")
    def preview(self, game: Game) -> str:
        if not game.thumbnail:
            return "-"
        return format_html(
            '<img src="{}" alt="" style="height:48px;image-rendering:pixelated">',
            game.thumbnail.url,
        )

    def get_fieldsets(self, request: HttpRequest, obj: Game | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        # A new game is saved disabled (save_model): the add form has no "enabled" box.
        first, options = fieldsets[0]
        fields = tuple(name for name in options["fields"] if name != "enabled")
        return ((first, {**options, "fields": fields}), *fieldsets[1:])

    def save_model(self, request: HttpRequest, obj: Game, form: Any, change: bool) -> None:
        # GameForm.clean already prepared the instance (meanings, key map, thumbnail).
        if not change:
            # Players never meet a half-configured game: it goes live when an admin, having
            # checked its page, ticks "enabled".
            obj.enabled = False
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Game, post_url_continue: Any = None) -> Any:
        self.message_user(
            request,
            f"{obj.title} is saved disabled, so players do not see it yet: check its key map, "
            "controls and instructions, then tick “enabled” here or in the game list.",
            messages.WARNING,
        )
        return super().response_add(request, obj, post_url_continue)


class PolicyForm(forms.ModelForm[Policy]):
    class Meta:
        model = Policy
        fields = ("game", "name", "kind", "model", "observation", "every_k", "enabled", "notes")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        # Load the model and run it once now, so a bad one is a form error, never a crash
        # when a match seats it.
        policy: Policy = self.instance
        for name, value in cleaned.items():
            if name != "model":
                setattr(policy, name, value)
        upload = self.files.get("model")
        if cleaned.get("model") is False:  # "clear" ticked
            policy.model = None  # type: ignore[assignment]
        try:
            policy_check(policy, model=upload.read() if upload is not None else None)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        finally:
            if upload is not None:
                upload.seek(0)
        return cleaned


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin[Policy]):
    form = PolicyForm
    list_display = ("name", "game", "kind", "observation", "every_k", "enabled", "updated_at")
    list_filter = ("kind", "enabled", "game")
    search_fields = ("name", "game__title", "notes")
    readonly_fields = ("model_sha256", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("game", "name", "kind", "enabled", "notes")}),
        ("Model", {"fields": ("model", "model_sha256", "observation", "every_k")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
