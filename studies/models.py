"""A study: an ordered plan of steps a recruited participant goes through, and their record.

A researcher builds a study in the admin from steps (pages, consent, questionnaires, game
blocks, randomised groups, conditions); a participant arrives by link, is bound to their
browser session, and walks the steps of their own plan (``Participant.plan``: the study's
steps with each randomised group's drawn order and their condition's branch, fixed when they
enter). Every change of a participant's state is a conditional update (``studies.services``),
so a replayed or concurrent request applies once or not at all.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from games.models import Game, GameSeat
from recording.models import Episode


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (only staff can open it)"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Audience(models.TextChoices):
        ANYONE = "anyone", "Anyone with the link (no account needed)"
        SIGNED_IN = "signed_in", "Signed-in users only"

    slug = models.SlugField(unique=True, help_text="The link is /s/<slug>/.")
    title = models.CharField(max_length=200, help_text="Shown to participants.")
    notes = models.TextField(blank=True, help_text="For the research team; never shown.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    max_participants = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Participants who may enter (those who declined, withdrew, timed out or were "
        "turned away by the connection gate do not count). Empty: no limit.",
    )
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.ANYONE)
    entry_parameters = models.CharField(
        max_length=500,
        blank=True,
        help_text="Other query parameters of the link to keep, comma-separated (Prolific's "
        "PROLIFIC_PID, STUDY_ID, SESSION_ID and MTurk's workerId, assignmentId, hitId are "
        "always kept).",
    )
    completion_redirect_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where a participant goes with their code, e.g. "
        "https://app.prolific.com/submissions/complete?cc={code}. {code}, {participant} (this "
        "study's id of them) and {pid} (their recruitment id) are filled in.",
    )
    max_ping_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Connection gate before the first game: participants whose median round "
        "trip is above this are turned away. Empty: no gate.",
    )
    pause_when_hidden = models.BooleanField(
        default=True,
        help_text="Games pause while the participant's tab is hidden (games that can pause: "
        "each game's own setting). Off: they go on, hidden.",
    )
    inactive_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=60,
        validators=[MinValueValidator(1)],
        help_text="Participants still walking who are not heard from for this long (their "
        "study page closed: an open one checks in every few seconds) are marked timed out. "
        "Empty: never.",
    )
    retention_days = models.PositiveIntegerField(
        default=30, help_text="Days a withdrawn participant's data is kept before deletion."
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Goes up when a step participants saw is edited."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        url = self.completion_redirect_url
        if url and not url.startswith(("https://", "http://")):
            raise ValidationError(
                {"completion_redirect_url": "Give a full address starting with https://."}
            )
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "The study must close after it opens."})
        if self.status == self.Status.OPEN and self.pk and (problems := self.unplayable()):
            raise ValidationError({"status": " ".join(problems)})

    def unplayable(self) -> list[str]:
        """Why participants could not play one of its game blocks (its game disabled, or its
        seats no longer fitting the block since the catalogue changed): it cannot be opened."""
        blocks = self.current_steps().filter(kind=Step.Kind.GAME).select_related("game")
        return [
            f"{block.title}: {problem}"
            for block in blocks.prefetch_related("game__seats")
            if (problem := block.seating_problem())
        ]

    @property
    def extra_parameters(self) -> list[str]:
        return [name.strip() for name in self.entry_parameters.split(",") if name.strip()]

    def current_steps(self) -> models.QuerySet[Step]:
        return self.steps.filter(retired_at__isnull=True)

    def is_open(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return (
            self.status == self.Status.OPEN
            and (self.opens_at is None or self.opens_at <= now)
            and (self.closes_at is None or now < self.closes_at)
        )


class Condition(models.Model):
    """One branch of a study (e.g. "feedback shown"): a participant is assigned one when they
    enter, to balance completions across branches, and walks the steps of a conditions step
    that belong to it."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=100)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="condition_name_per_study")
        ]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    class Kind(models.TextChoices):
        PAGE = "page", "Page (text)"
        CONSENT = "consent", "Consent"
        QUESTIONNAIRE = "questionnaire", "Questionnaire"
        GAME = "game", "Game block"
        RANDOM = "random", "Randomised group (its steps in a random order)"
        CONDITIONS = "conditions", "Conditions (each participant walks their condition's steps)"

    class Seating(models.TextChoices):
        ALONE = "alone", "The participant alone"
        VS_AI = "vs_ai", "Against an AI policy"
        VS_HUMAN = "vs_human", "Against another participant from the waiting room"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="steps")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        limit_choices_to={"kind__in": ["random", "conditions"]},
        help_text="A randomised group or conditions step this step belongs to.",
    )
    condition = models.ForeignKey(
        Condition,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="steps",
        help_text="Within a conditions step: the condition whose participants see this step.",
    )
    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown. Raw HTML is shown as text, never run.")
    # consent
    consent_version = models.CharField(
        max_length=50, blank=True, help_text="Stored with each participant who agrees."
    )
    consent_items = models.TextField(
        blank=True,
        help_text="One statement per line; each is a checkbox the participant must tick.",
    )
    # game block
    game = models.ForeignKey(Game, null=True, blank=True, on_delete=models.PROTECT)
    seating = models.CharField(
        max_length=10, choices=Seating.choices, default=Seating.ALONE, blank=True
    )
    episodes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Done after this many episodes."
    )
    min_active_minutes = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Done after this many minutes of active play (and the score, if set).",
    )  # fmt: skip
    min_score = models.FloatField(null=True, blank=True, help_text="A score to reach.")
    time_limit_minutes = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="The block ends after this long, done or not.",
    )  # fmt: skip
    countdown_seconds = models.PositiveIntegerField(
        default=3, validators=[MaxValueValidator(60)], help_text="Before each new episode."
    )
    show_score_page = models.BooleanField(
        default=False, help_text="After the block, the participant's score among all others'."
    )
    bonus_per_point = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    bonus_per_minute = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    bonus_cap = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # randomised group
    pick = models.PositiveIntegerField(
        null=True, blank=True, help_text="Randomised group: show only this many of its steps."
    )
    retired_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="Replaced by a new version (participants had seen it).",
    )  # fmt: skip
    replaces = models.ForeignKey(
        "self", null=True, blank=True, editable=False, on_delete=models.SET_NULL,
        related_name="replaced_by",
    )  # fmt: skip

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]}: {self.title}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.CONSENT:
            if not self.consent_items.strip():
                errors["consent_items"] = "A consent step needs at least one statement."
            if not self.consent_version.strip():
                errors["consent_version"] = "Name the version of this consent text."
        if self.kind == self.Kind.GAME:
            game = self.game if self.game_id is not None else None
            if game is None:
                errors["game"] = "Choose the game of this block."
            elif problem := self.seating_problem():
                errors["seating"] = problem
            if self.episodes is None and self.min_active_minutes is None and self.min_score is None:
                errors["episodes"] = (
                    "Say when the block is done: a number of episodes, minutes of play or a score."
                )
        parent = self.parent if self.parent_id is not None else None
        if parent is not None:
            if parent.study_id != self.study_id:
                errors["parent"] = "The group must be a step of the same study."
            if parent.kind == self.Kind.CONDITIONS and self.condition_id is None:
                errors["condition"] = "Say which condition's participants see this step."
            if parent.pk == self.pk:
                errors["parent"] = "A step cannot belong to itself."
        condition = self.condition if self.condition_id is not None else None
        if condition is not None and condition.study_id != self.study_id:
            errors["condition"] = "The condition must be one of this study's."
        if errors:
            raise ValidationError(errors)

    def seating_problem(self) -> str | None:
        """Why the block's game cannot seat it as it says, or None. Alone: a one-player game.
        Against an AI: a game of several seats with one the AI fills from the start. Against
        another participant: a game with two seats people may take (participants of the same
        block wait for each other in the block's own waiting room; a seat whose AI sits down
        after a wait lets a participant who waited alone play on)."""
        game = self.game if self.game_id is not None else None
        if game is None:
            return None
        if not game.enabled:
            return f"{game.title} is disabled in the catalogue."
        fills = [seat.fill for seat in game.seats.all()]
        people = sum(1 for fill in fills if fill != GameSeat.Fill.POLICY)
        if self.seating == self.Seating.ALONE and game.is_multi_seat:
            return "Alone: choose a one-player game (e.g. pong)."
        if self.seating == self.Seating.VS_AI and not (
            game.is_multi_seat and GameSeat.Fill.POLICY in fills and people >= 1
        ):
            return (
                "Against an AI: choose a game of several seats where the AI fills one from the "
                "start (e.g. pong-vs-ai)."
            )
        if self.seating == self.Seating.VS_HUMAN and not (game.is_multi_seat and people >= 2):
            return (
                "Against another participant: choose a game of several seats with two that "
                "people take (e.g. pong-2p)."
            )
        return None

    @property
    def statements(self) -> list[str]:
        return [line.strip() for line in self.consent_items.splitlines() if line.strip()]

    @property
    def is_container(self) -> bool:
        return self.kind in (self.Kind.RANDOM, self.Kind.CONDITIONS)


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple choice"
        LIKERT = "likert", "Likert scale"
        NUMBER = "number", "Number"
        SHORT = "short", "Short text"
        LONG = "long", "Long text"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="questions")
    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.TextField(help_text="Markdown.")
    choices = models.TextField(
        blank=True,
        help_text="Choices, or a Likert scale's labels from the lowest point to the highest: "
        "one per line.",
    )
    required = models.BooleanField(default=True)
    min_value = models.FloatField(null=True, blank=True, help_text="Number: the lowest allowed.")
    max_value = models.FloatField(null=True, blank=True, help_text="Number: the highest allowed.")
    max_length = models.PositiveIntegerField(
        default=2000, validators=[MaxValueValidator(20000)], help_text="Text: most characters."
    )

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def options(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def clean(self) -> None:
        choosing = self.kind in (self.Kind.SINGLE, self.Kind.MULTIPLE, self.Kind.LIKERT)
        if choosing and len(self.options) < 2:
            raise ValidationError({"choices": "Give at least two choices, one per line."})
        if (
            self.kind == self.Kind.NUMBER
            and self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValidationError({"max_value": "The highest must not be below the lowest."})


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def counted(self) -> ParticipantQuerySet:
        """Those who hold a place in the study: leaving it (declined, withdrew), timing out or
        being turned away by the connection gate frees it, as Prolific then recruits again."""
        return self.exclude(state__in=Participant.PLACE_FREED)

    def in_exports(self) -> ParticipantQuerySet:
        """Those whose data the study keeps (a decline or a withdrawal takes it out)."""
        return self.exclude(state__in=Participant.GONE)


class Participant(models.Model):
    class State(models.TextChoices):
        STARTED = "started", "Started"
        CONSENTED = "consented", "Consented"
        COMPLETED = "completed", "Completed"
        DECLINED = "declined", "Declined consent"
        WITHDREW = "withdrew", "Withdrew"
        TIMED_OUT = "timed_out", "Timed out"
        REFUSED = "refused", "Turned away (connection)"

    class Source(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "MTurk"
        LINK = "link", "Link"
        ACCOUNT = "account", "Signed-in user"

    # Out of the study and its data: they hold no place and appear in no export.
    GONE = (State.DECLINED, State.WITHDREW)
    # Hold no place against the study's most participants (a timed-out or turned-away
    # participant's data stays in the study's files).
    PLACE_FREED = (*GONE, State.TIMED_OUT, State.REFUSED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    study_version = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(
        max_length=200, help_text="The recruitment id (Prolific PID, MTurk worker id) or ours."
    )
    generated_id = models.BooleanField(default=False)
    parameters = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participations",
        help_text="The account their episodes are recorded under.",
    )
    session_key = models.CharField(max_length=64, blank=True)
    tab = models.CharField(
        max_length=32,
        blank=True,
        help_text="The page (tab) that holds the study: its time and a nonce.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.STARTED)
    condition = models.ForeignKey(
        Condition, null=True, blank=True, on_delete=models.PROTECT, related_name="participants"
    )
    plan = models.JSONField(default=list, help_text="The ids of the steps they walk, in order.")
    drawn = models.JSONField(
        default=dict, blank=True, help_text="Each randomised group's drawn order (step ids)."
    )
    position = models.PositiveIntegerField(default=0, help_text="Their step's index in the plan.")
    consent_version = models.CharField(max_length=50, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    ping_ms = models.FloatField(null=True, blank=True, help_text="Median round trip measured.")
    completion_code = models.CharField(max_length=40, null=True, blank=True, unique=True)
    code_issued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # Once per person: the same recruitment id cannot take a study twice.
            models.UniqueConstraint(
                fields=["study", "source", "external_id"], name="once_per_person"
            )
        ]
        permissions = [("view_recruitment_ids", "Can see participants' recruitment ids")]

    def __str__(self) -> str:
        return f"{self.study.slug}: {str(self.id)[:8]}"

    @property
    def done_walking(self) -> bool:
        return self.position >= len(self.plan)

    @property
    def current_step_id(self) -> int | None:
        return None if self.done_walking else int(self.plan[self.position])


class StepVisit(models.Model):
    """A participant's time on one step of their plan, with its focus and visibility."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="visits")
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="visits")
    position = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    hidden_seconds = models.FloatField(default=0)
    blurred_seconds = models.FloatField(default=0)
    attention = models.JSONField(
        default=list, blank=True, help_text="[seconds since start, focused, visible] changes."
    )
    # A game block whose score page is on: what the page tells the participant, fixed when they
    # finish the block ({"score", "better_than": percent or null, "others": how many}), and
    # when they pressed its Continue. Set and not yet seen: the page is due, before any step.
    score_page = models.JSONField(null=True, blank=True)
    score_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "position"], name="one_visit_a_step")
        ]

    def __str__(self) -> str:
        return f"{self.participant}: step {self.position + 1}"


class Answer(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value = models.JSONField(null=True)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "question"], name="one_answer")
        ]

    def __str__(self) -> str:
        return f"{self.participant}: {self.question}"


class ProblemReport(models.Model):
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="problem_reports"
    )
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(max_length=2000)
    page = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.participant}: {self.text[:40]}"


class BlockEpisode(models.Model):
    """An episode a participant played in a game block (``Episode.context`` names them)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="block_episodes"
    )
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="block_episodes")
    position = models.PositiveIntegerField()
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "episode"], name="one_link_an_episode")
        ]

    def __str__(self) -> str:
        return f"{self.participant}: {self.episode_id}"
