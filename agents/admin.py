from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__email")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = ("user", "name", *readonly_fields, "max_sessions", "max_steps_per_second",
              "idle_seconds")  # fmt: skip
    autocomplete_fields = ("user",)
    actions = ("revoke_tokens",)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new token is made like an owner's: shown here once, stored as its digest.
        made, raw = services.issue(obj.user, obj.name)
        ApiToken.objects.filter(pk=made.pk).update(
            max_sessions=obj.max_sessions,
            max_steps_per_second=obj.max_steps_per_second,
            idle_seconds=obj.idle_seconds,
        )
        obj.pk = made.pk
        obj.refresh_from_db()
        messages.warning(
            request, f"The token for {obj.user}: {raw} — copy it now; it is not shown again."
        )

    @admin.action(description="Revoke (their sessions close)")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(services.revoke(token) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
