"""Studies in the admin: built without code, shown as an outline, frozen once people take them.

A step that participants have already seen is never edited in place: saving it makes a new
version of the step (the old one is retired, kept for the participants who saw it, and the
study's version goes up), so each participant's record names what they took.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import bonuses, datafiles, outline
from .admin_views import study_dashboard
from .models import (
    Answer,
    Condition,
    Participant,
    ProblemReport,
    Question,
    Step,
    Study,
)


class ConditionInline(admin.TabularInline[Condition, Study]):
    model = Condition
    extra = 0


class StepInline(admin.TabularInline[Step, Study]):
    model = Step
    fk_name = "study"
    extra = 1
    fields = ("order", "kind", "title", "parent", "condition", "edit")
    readonly_fields = ("edit",)
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Step]:
        return super().get_queryset(request).filter(retired_at__isnull=True)

    @admin.display(description="Settings")
    def edit(self, step: Step) -> str:
        if step.pk is None:
            return "Save, then open the step to write its text, questions or game."
        return format_html('<a href="{}">Edit text, questions, game…</a>', reverse(
            "admin:studies_step_change", args=[step.pk]
        ))  # fmt: skip


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin[Study]):
    list_display = (
        "title", "slug", "status", "participant_count", "completed_count", "link",
        "dashboard_link",
    )  # fmt: skip
    list_filter = ("status",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [ConditionInline, StepInline]
    readonly_fields = ("plan_outline", "version", "link", "dashboard")
    actions = [
        "duplicate",
        "open_studies",
        "close_studies",
        "bonus_csv_prolific",
        "bonus_csv_mturk",
        "export_answers",
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    *("title", "slug", "status", "link", "dashboard"),
                    *("notes", "plan_outline", "version"),
                )
            },
        ),
        ("Who and when", {"fields": ("audience", "opens_at", "closes_at", "max_participants")}),
        (
            "Recruitment",
            {"fields": ("entry_parameters", "completion_redirect_url", "max_ping_ms")},
        ),
        ("Play and data", {"fields": ("pause_when_hidden", "inactive_minutes", "retention_days")}),
    )

    def get_urls(self) -> list[URLPattern]:
        dashboard = self.admin_site.admin_view(study_dashboard)
        return [
            path("<int:pk>/dashboard/", dashboard, name="studies_study_dashboard"),
            *super().get_urls(),
        ]

    @admin.display(description="Dashboard")
    def dashboard(self, study: Study) -> str:
        if study.pk is None:
            return "-"
        url = reverse("admin:studies_study_dashboard", args=[study.pk])
        return format_html('<a href="{}">Participants, times, scores, reports</a>', url)

    @admin.display(description="Dashboard")
    def dashboard_link(self, study: Study) -> str:
        url = reverse("admin:studies_study_dashboard", args=[study.pk])
        return format_html('<a href="{}">Dashboard</a>', url)

    @admin.display(description="Participants")
    def participant_count(self, study: Study) -> int:
        return study.participants.counted().count()

    @admin.display(description="Completed")
    def completed_count(self, study: Study) -> int:
        return study.participants.filter(state=Participant.State.COMPLETED).count()

    @admin.display(description="Link")
    def link(self, study: Study) -> str:
        if study.pk is None:
            return "-"
        url = reverse("studies:entry", args=[study.slug])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="Outline")
    def plan_outline(self, study: Study) -> SafeString:
        if study.pk is None:
            return SafeString("Add steps below, then save: the outline shows here.")
        return outline.html(study)

    @admin.action(description="Duplicate (as a new draft, to run a variant)")
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            copy = outline.duplicate(study)
            self.message_user(request, f"Made {copy.slug} from {study.slug}.", messages.SUCCESS)

    @admin.action(description="Open")
    def open_studies(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            if problems := study.unplayable():
                self.message_user(request, f"{study.slug}: {' '.join(problems)}", messages.ERROR)
            else:
                Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)

    @admin.action(description="Close")
    def close_studies(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        queryset.update(status=Study.Status.CLOSED)

    # The bonus file names participants by their recruitment ids: only staff who may see them
    # get these actions (Django leaves an action out of the list, and refuses it, without).
    def has_view_recruitment_ids_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("studies.view_recruitment_ids")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("studies.view_participant")

    @admin.action(
        description="Download the bonus CSV (Prolific)", permissions=["view_recruitment_ids"]
    )
    def bonus_csv_prolific(
        self, request: HttpRequest, queryset: QuerySet[Study]
    ) -> HttpResponse | None:
        return self._bonus_csv(request, queryset, "prolific")

    @admin.action(
        description="Download the bonus CSV (MTurk)", permissions=["view_recruitment_ids"]
    )
    def bonus_csv_mturk(
        self, request: HttpRequest, queryset: QuerySet[Study]
    ) -> HttpResponse | None:
        return self._bonus_csv(request, queryset, "mturk")

    def _bonus_csv(
        self, request: HttpRequest, queryset: QuerySet[Study], platform: str
    ) -> HttpResponse | None:
        study = self._one(request, queryset)
        if study is None:
            return None
        sheet = bonuses.bonus_sheet(study, platform)
        for line in sheet.lines()[1:]:
            self.message_user(request, f"{study.slug}: {line.strip()}", messages.WARNING)
        response = HttpResponse(sheet.text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{study.slug}-bonuses-{platform}.csv"'
        )
        return response

    @admin.action(description="Export answers (zip)", permissions=["export"])
    def export_answers(
        self, request: HttpRequest, queryset: QuerySet[Study]
    ) -> HttpResponse | None:
        study = self._one(request, queryset)
        if study is None:
            return None
        response = HttpResponse(datafiles.study_zip(study), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-data.zip"'
        return response

    def _one(self, request: HttpRequest, queryset: QuerySet[Study]) -> Study | None:
        if queryset.count() != 1:
            self.message_user(request, "Select one study for this action.", messages.ERROR)
            return None
        return queryset.get()


class QuestionInline(admin.StackedInline[Question, Step]):
    model = Question
    extra = 1
    fields = (
        ("order", "kind", "required"),
        "text",
        "choices",
        ("min_value", "max_value", "max_length"),
    )


@admin.register(Step)
class StepAdmin(admin.ModelAdmin[Step]):
    list_display = ("title", "kind", "study", "order", "retired_at")
    list_filter = ("kind", "study")
    inlines = [QuestionInline]
    fieldsets = (
        (None, {"fields": ("study", "order", "kind", "title", "body", "parent", "condition")}),
        ("Consent", {"fields": ("consent_version", "consent_items"), "classes": ["collapse"]}),
        (
            "Game block",
            {
                "fields": (
                    "game",
                    "seating",
                    ("episodes", "min_active_minutes", "min_score"),
                    ("time_limit_minutes", "countdown_seconds"),
                    "show_score_page",
                    ("bonus_per_point", "bonus_per_minute", "bonus_cap"),
                ),
                "classes": ["collapse"],
            },
        ),
        ("Randomised group", {"fields": ("pick",), "classes": ["collapse"]}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Step]:
        return super().get_queryset(request).select_related("study")

    def save_model(self, request: HttpRequest, obj: Step, form: Any, change: bool) -> None:
        if change and obj.pk is not None and obj.visits.exists():
            # Participants saw this step: keep it as they saw it, and save the edit as a new
            # version that later participants take.
            old = Step.objects.get(pk=obj.pk)
            with transaction.atomic():
                obj.pk = None
                obj.replaces = old
                obj.save()
                Step.objects.filter(pk=old.pk).update(retired_at=timezone.now())
                Step.objects.filter(parent=old, retired_at__isnull=True).update(parent=obj)
                Study.objects.filter(pk=obj.study_id).update(version=obj.study.version + 1)
            self.message_user(
                request,
                "Participants had seen this step: your edit is saved as a new version of it, "
                "which participants who enter from now on take.",
                messages.WARNING,
            )
            return
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        step: Step = form.instance
        if (
            step.replaces_id is not None
            and formset.model is Question
            and step.questions.count() == 0
        ):
            # A new version: its questions are copies (the old version's stay with the answers
            # given to them).
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for question_form in formset.forms:
                data = getattr(question_form, "cleaned_data", None)
                if not data or data.get("DELETE"):
                    continue
                fields = {k: v for k, v in data.items() if k not in ("id", "step", "DELETE")}
                formset.new_objects.append(Question.objects.create(step=step, **fields))
            return
        super().save_formset(request, form, formset, change)


class AnswerInline(admin.TabularInline[Answer, Participant]):
    model = Answer
    extra = 0
    can_delete = False
    readonly_fields = ("question", "value", "answered_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin[Participant]):
    list_display = ("short_id", "study", "state", "condition", "position_of_plan", "started_at")
    list_filter = ("study", "state", "condition", "source")
    inlines = [AnswerInline]
    readonly_fields = [f.name for f in Participant._meta.fields] + ["reports"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        return super().get_queryset(request).select_related("study", "condition")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if not request.user.has_perm("studies.view_recruitment_ids"):
            fields = [f for f in fields if f not in ("external_id", "parameters")]
        return fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_readonly_fields(request, obj)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        if request.user.has_perm("studies.view_recruitment_ids"):
            return ["id", "external_id"]
        return ["id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Participant")
    def short_id(self, participant: Participant) -> str:
        return str(participant.pk)[:8]

    @admin.display(description="Step")
    def position_of_plan(self, participant: Participant) -> str:
        return f"{min(participant.position + 1, len(participant.plan))} of {len(participant.plan)}"

    @admin.display(description="Problem reports")
    def reports(self, participant: Participant) -> SafeString:
        rows = participant.problem_reports.all()
        if not rows:
            return SafeString("None")
        return format_html_join(
            "", "<p>{}: {}</p>", ((r.created_at.strftime("%Y-%m-%d %H:%M"), r.text) for r in rows)
        )


@admin.register(ProblemReport)
class ProblemReportAdmin(admin.ModelAdmin[ProblemReport]):
    list_display = ("created_at", "participant", "step", "text", "resolved")
    list_filter = ("resolved", "participant__study")
    list_editable = ("resolved",)
    readonly_fields = ("participant", "step", "text", "page", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
