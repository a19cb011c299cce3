from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.html import format_html

from .models import Game, GameSeat, Policy
from .services import game_prepare, game_seats_check, policy_check


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
            "on_leave",
            "start_countdown",
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


class GameSeatFormSet(forms.BaseInlineFormSet[GameSeat, Game, forms.ModelForm[GameSeat]]):
    """A game's seats, checked together against the game as edited (its env may have
    changed in the same form): numbered as its players are, with AI policies of its own."""

    instance: Game

    def add_fields(self, form: forms.ModelForm[GameSeat], index: int | None) -> None:
        super().add_fields(form, index)
        if "policy" in form.fields:  # only this game's AI players (none before it is saved)
            field: Any = form.fields["policy"]
            game = self.instance if self.instance.pk else None
            field.queryset = Policy.objects.filter(game=game).order_by("name")

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        seats = [
            form.instance
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and (form.instance.pk or form.has_changed())
        ]
        game_seats_check(game=self.instance, seats=seats)


class GameSeatInline(admin.StackedInline[GameSeat, Game]):
    model = GameSeat
    formset = GameSeatFormSet
    extra = 0
    verbose_name = "seat"
    fieldsets = (
        (None, {"fields": (("index", "role"), ("fill", "policy", "human_timeout"))}),
        (None, {"fields": ("instructions", "key_map")}),
    )

    def get_extra(self, request: HttpRequest, obj: Game | None = None, **kwargs: Any) -> int:
        # A multi-seat game without seats offers a blank one per player to fill in.
        if obj is not None and obj.is_multi_seat and not obj.seats.exists():
            try:
                return obj.seat_count
            except ValueError:
                return 0
        return 0


@admin.register(Game)
class GameAdmin(admin.ModelAdmin[Game]):
    form = GameForm
    inlines = (GameSeatInline,)
    list_display = (
        "title",
        "preview",
        "env_id",
        "players",
        "fps",
        "turn_based",
        "enabled",
        "display_order",
    )
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
        (
            "Players",
            {
                "fields": ("on_leave", "start_countdown"),
                "description": "A multi-seat game (env id multi/<name>) has one seat per "
                "player, below, numbered from 0; with none, a person takes every seat. A "
                "seat's AI policy is one of this game's (add it under Policies first).",
            },
        ),
        ("Read from the env", {"fields": ("frame_shape", "created_at", "updated_at")}),
    )

    @admin.display(description="Players")
    def players(self, game: Game) -> str:
        """Who fills each seat, in a line: "A person · Pong tracker (AI)"."""
        try:
            seats = game.seats_in_force()
        except ValueError:
            return "?"
        return " · ".join(seat.filled_by() for seat in seats) or "A person"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("seats__policy")

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
