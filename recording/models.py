from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from games.engine.registry import is_multi_seat

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


class EpisodeQuerySet(models.QuerySet["Episode"]):
    def for_player(self, user: User | AnonymousUser) -> EpisodeQuerySet:
        """The episodes the user played: their own, and any in which they held a seat (a
        multi-seat episode's ``user`` is one person; the others are in its seats)."""
        if not user.is_authenticated:
            return self.none()
        held = EpisodeSeat.objects.filter(user=user).values("episode")
        return (
            self.filter(models.Q(user=user) | models.Q(pk__in=held))
            .select_related("game")
            .order_by("-started_at")
        )

    def with_seats_of(self, user: User | AnonymousUser) -> EpisodeQuerySet:
        """Each episode with ``held_seats``: the seats the user held in it, in order."""
        held = (
            EpisodeSeat.objects.filter(user=user)
            if user.is_authenticated
            else EpisodeSeat.objects.none()
        )
        return self.prefetch_related(
            models.Prefetch(
                "seats",
                queryset=held.order_by("index", "from_step"),
                to_attr="user_seats",
            )
        )

    def with_holders(self) -> EpisodeQuerySet:
        """Each episode's seats and who held them, fetched for all at once (``lineup``)."""
        holders = EpisodeSeat.objects.select_related("user", "policy")
        return self.prefetch_related(models.Prefetch("seats", queryset=holders))

    def with_stored_steps(self) -> EpisodeQuerySet:
        """Each episode with ``stored_steps``: the steps in its stored chunks, which count an
        active episode's play so far (its ``steps`` is written when it ends)."""
        return self.annotate(stored_steps=models.Sum("chunks__n_steps"))

    def lost(self, *, silent_since: datetime) -> EpisodeQuerySet:
        """Active episodes whose live session has not beaten since then (or never did)."""
        return self.filter(status=Episode.Status.ACTIVE).filter(
            models.Q(heartbeat_at__lt=silent_since)
            | models.Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
        )


class Episode(models.Model):
    """One played episode: who, what, how it was seeded, and how it ended."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FINALISING = "finalising", "Finalising"
        COMPLETE = "complete", "Complete"
        INCOMPLETE = "incomplete", "Incomplete"

    class EndReason(models.TextChoices):
        TERMINATED = "terminated", "Terminated (game over)"
        TRUNCATED = "truncated", "Truncated (step limit)"
        ABANDONED = "abandoned", "Abandoned (player left)"
        RESTARTED = "restarted", "Restarted (New game)"
        # The live session died (web process crash, lost worker): found by the watchdog.
        INTERRUPTED = "interrupted", "Interrupted (live session lost)"
        # The game's emulator failed while its session lived: every step played is stored.
        ERROR = "error", "Error (the game's emulator failed)"

    class Verification(models.TextChoices):
        PENDING = "pending", "Pending"
        VERIFIED = "verified", "Verified (replay matches every frame)"
        MISMATCH = "mismatch", "Mismatch (replay differs)"
        FAILED = "failed", "Failed (replay could not run)"

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="episodes"
    )
    game = models.ForeignKey("games.Game", on_delete=models.PROTECT, related_name="episodes")
    seed = models.BigIntegerField()
    # Everything replay needs, frozen at start: the game's env spec and library versions.
    env_spec = models.JSONField()
    versions = models.JSONField()
    frame_shape = models.JSONField(default=list)
    pixel_format = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    steps = models.PositiveIntegerField(default=0)
    # When play stood still: [{"step": n, "seconds": s, "why": "hidden" | "reconnect"}], each
    # a pause between step n - 1 and step n (docs/recording.md#pauses).
    pauses = models.JSONField(default=list, blank=True)
    total_return = models.FloatField(null=True, blank=True)
    # A game of several seats: each seat's return, in seat order, summed at finalisation
    # (``total_return`` is seat 0's: the step columns' ``reward``).
    seat_returns = models.JSONField(null=True, blank=True)
    chunks_expected = models.PositiveIntegerField(null=True, blank=True)
    # What the episode was played for, set by whoever provides it when the episode starts
    # (``play.contexts``): e.g. a study's block, {"study": slug, "step": id, "participants":
    # [ids]}. Empty for free play. Exports carry it in each episode's metadata.
    context = models.JSONField(default=dict, blank=True)
    integrity_error = models.TextField(blank=True)
    # Replay verification: the episode replayed from its seed and actions in a worker, every
    # frame compared with the stored one. ``verified_steps`` counts the steps checked so far.
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.PENDING
    )
    verification_detail = models.TextField(blank=True)
    verified_steps = models.PositiveIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Written by the live session while it runs; the watchdog ends episodes whose beat stopped.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)

    objects = EpisodeQuerySet.as_manager()

    class Meta:
        ordering = ("-started_at",)
        indexes = [
            models.Index(fields=["game", "-started_at"]),
            models.Index(fields=["user", "-started_at"]),
            models.Index(fields=["status"]),
            models.Index(fields=["verification"]),
        ]

    def __str__(self) -> str:
        return f"{self.game} episode {str(self.uuid)[:8]}"

    @property
    def duration(self) -> timedelta:
        """Started to ended, or to now while it is played."""
        return (self.ended_at or timezone.now()) - self.started_at

    @property
    def steps_so_far(self) -> int:
        """The steps played: ``steps`` once ended; while active, the steps stored so far."""
        if self.status == Episode.Status.ACTIVE:
            return int(getattr(self, "stored_steps", None) or 0)
        return self.steps

    @property
    def is_multi_seat(self) -> bool:
        return is_multi_seat(str((self.env_spec or {}).get("env_id", "")))

    @property
    def score_of_player(self) -> float | None:
        """The return of the user of ``with_seats_of``: their seat's in a game of several
        seats (the first they held), else the episode's."""
        held = self.held_seats
        if not held:
            return self.total_return
        index = held[0].index
        if self.seat_returns and index < len(self.seat_returns):
            return float(self.seat_returns[index])
        # Finalised before the seats' returns were kept: the episode's is seat 0's only.
        return self.total_return if index == 0 else None

    @property
    def held_seats(self) -> list[EpisodeSeat]:
        """The seats the user of ``with_seats_of`` held, once each (a seat they left and took
        back has two rows)."""
        seen: dict[int, EpisodeSeat] = {}
        for seat in getattr(self, "user_seats", []):
            seen.setdefault(seat.index, seat)
        return list(seen.values())

    @property
    def lineup(self) -> list[SeatLine]:
        """Each seat, in order, with everyone who held it (prefetch ``seats`` with their
        ``user`` and ``policy`` to list many episodes in a few queries)."""
        lines: dict[int, SeatLine] = {}
        for seat in self.seats.all():
            line = lines.setdefault(seat.index, SeatLine(seat.index, seat.role, [], []))
            line.holders.append(seat.holder_name)
            line.accounts.append(seat.holder_account)
        return list(lines.values())

    @property
    def frames(self) -> int:
        """Frames stored: one per step and the last observation, which an interrupted
        episode lost with its live session (it was to start the next chunk)."""
        if self.end_reason == Episode.EndReason.INTERRUPTED:
            return self.steps
        return self.steps + 1


class EpisodeSeat(models.Model):
    """Who held one seat of an episode, from which step on: a person, an AI policy, nobody.

    A seat is a player slot of the game (index 0: the first player). One row per holder: a seat
    that changes hands mid-episode (a person leaves, an AI takes over) has a row from the step
    its new holder took it, so every step's holder is the row with the largest ``from_step``
    not after it. The steps themselves (actions, input stamps) are the chunks'.
    """

    class Kind(models.TextChoices):
        HUMAN = "human", "Person"
        POLICY = "policy", "AI policy"
        VACANT = "vacant", "Nobody (the default action)"
        AGENT = "agent", "Program (the agent API, as its token's owner)"

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="seats")
    index = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=64, blank=True, help_text="e.g. 'the right paddle'")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="episode_seats",
    )
    policy = models.ForeignKey(
        "games.Policy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="episode_seats",
    )
    from_step = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("episode", "index", "from_step")
        constraints = [
            models.UniqueConstraint(
                fields=("episode", "index", "from_step"), name="episode_seat_one_holder_a_step"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["human", "agent"], user__isnull=False, policy__isnull=True)
                    | models.Q(kind="policy", policy__isnull=False, user__isnull=True)
                    | models.Q(kind="vacant", user__isnull=True, policy__isnull=True)
                ),
                name="episode_seat_holder_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        holder = self.user or self.policy or "nobody"
        return f"seat {self.index} from step {self.from_step}: {holder}"

    @property
    def player_number(self) -> int:
        """The seat as players count: seat 0 is player 1."""
        return self.index + 1

    @property
    def holder_name(self) -> str:
        """Who held the seat, as players see each other (``User.public_name``)."""
        if self.kind == EpisodeSeat.Kind.HUMAN and self.user is not None:
            return self.user.public_name
        if self.kind == EpisodeSeat.Kind.AGENT and self.user is not None:
            return f"an agent of {self.user.public_name}"
        return self._other_holder()

    @property
    def holder_account(self) -> str:
        """Who held the seat, as staff know them (the person's email address)."""
        if self.kind == EpisodeSeat.Kind.HUMAN and self.user is not None:
            return self.user.get_username()
        if self.kind == EpisodeSeat.Kind.AGENT and self.user is not None:
            return f"an agent of {self.user.get_username()}"
        return self._other_holder()

    def _other_holder(self) -> str:
        if self.kind == EpisodeSeat.Kind.POLICY and self.policy is not None:
            return f"{self.policy.name} (AI)"
        return "nobody"


@dataclass(frozen=True)
class SeatLine:
    """One seat of an episode and who held it, in order (a seat that changed hands mid-game,
    a person then the AI that took over, has several holders)."""

    index: int
    role: str
    holders: list[str]  # as players see them (public names)
    accounts: list[str]  # as staff know them (email addresses)

    @property
    def player_number(self) -> int:
        return self.index + 1

    def __str__(self) -> str:
        return f"Player {self.player_number}: {' then '.join(self.holders)}"

    def for_staff(self) -> str:
        return f"Player {self.player_number}: {' then '.join(self.accounts)}"


class Chunk(models.Model):
    """One stored object of consecutive frames and steps (format: docs/recording.md)."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_frame = models.PositiveIntegerField()
    n_frames = models.PositiveIntegerField()
    n_steps = models.PositiveIntegerField()
    keyframe = models.BooleanField()
    file = models.FileField(max_length=255)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("episode", "index")
        constraints = [
            models.UniqueConstraint(fields=["episode", "index"], name="unique_chunk_index")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.episode_id}"


class Transition(models.Model):
    """Step t of an episode: the action taken on frame t and what followed.

    Its observation is frame t, at position ``obs_index`` of ``obs_chunk``; frame t + 1 is the
    next observation. Times: ``t_shown``/``t_key`` are the client's clock (ms), ``t_received``
    and ``t_step`` the server's wall clock (s).
    """

    id = models.BigAutoField(primary_key=True)
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="transitions")
    step = models.PositiveIntegerField()
    action = models.PositiveSmallIntegerField()
    reward = models.FloatField()
    terminated = models.BooleanField()
    truncated = models.BooleanField()
    info = models.JSONField(default=dict)
    obs_chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="+")
    obs_index = models.PositiveIntegerField()
    input_seq = models.PositiveIntegerField()
    client_frame = models.PositiveIntegerField(null=True)
    t_shown = models.FloatField(null=True)
    t_key = models.FloatField(null=True)
    t_received = models.FloatField(null=True)
    t_step = models.FloatField()
    # Multi-seat episodes: {"actions", "rewards", "holders", "fresh"}, one value per seat in
    # seat order (the chunk's per-seat columns; the input stamps stay in the chunks). Null for
    # one seat: the columns above are seat 0's either way.
    seats = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("episode", "step")
        constraints = [
            models.UniqueConstraint(fields=["episode", "step"], name="unique_transition_step")
        ]

    def __str__(self) -> str:
        return f"step {self.step} of {self.episode_id}"
