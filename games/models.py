from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from .engine.boards import seated_game
from .engine.keymap import Control, KeyMap, combines, describe, keyboard_only
from .engine.machines import GameConfig, SeatConfig
from .engine.registry import is_atari, is_board, is_multi_seat, multi_seat_name


class GameQuerySet(models.QuerySet["Game"]):
    def playable(self) -> GameQuerySet:
        return self.filter(enabled=True).order_by("display_order", "title")


class Game(models.Model):
    """One entry of the catalogue: a Gymnasium env, or a multi-seat Atari game
    (``multi/<name>``), and how people play it."""

    class OnLeave(models.TextChoices):
        AI = "ai", "The seat's AI policy takes over (after the reconnect grace)"
        ABANDON = "abandon", "The game ends, abandoned, after the reconnect grace"
        END = "end", "The game ends at once, for everyone"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=100)
    short_description = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True, help_text="Shown before play.")
    controls = models.TextField(
        blank=True,
        help_text="Notes on the controls, shown under the keys. The keys themselves are "
        "listed from the key map, so leave them out of this text.",
    )
    env_id = models.CharField(
        max_length=200,
        help_text="A registered Gymnasium id, e.g. ALE/Pong-v5; or multi/<name> for a "
        "multi-seat Atari game, e.g. multi/pong (two-player Pong).",
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
    pauses_when_hidden = models.BooleanField(
        default=True,
        help_text="A real-time game pauses while the player's tab is hidden (the recording "
        "marks each pause). Turn-based games wait for the player anyway.",
    )
    two_sided_score = models.BooleanField(
        default=False,
        help_text="The return is the player's points minus the opponent's (Pong): the page "
        "shows both sides' points, as the screen does, with the return beside them.",
    )
    default_action = models.PositiveSmallIntegerField(
        default=0, help_text="Played while no key is held."
    )
    max_steps = models.PositiveIntegerField(
        default=36_000, help_text="Episodes are truncated after this many steps."
    )
    on_leave = models.CharField(
        max_length=8,
        choices=OnLeave.choices,
        default=OnLeave.AI,
        help_text="What happens when a person leaves a multi-seat game mid-way.",
    )
    start_countdown = models.PositiveSmallIntegerField(
        default=3,
        help_text="Seconds the waiting room counts down once every seat is filled.",
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
        """An Atari game, one- or multi-seat: palette-index frames and a RAM to observe."""
        return is_atari(self.env_id) or (is_multi_seat(self.env_id) and not is_board(self.env_id))

    @property
    def is_multi_seat(self) -> bool:
        return is_multi_seat(self.env_id)

    @property
    def seat_count(self) -> int:
        """How many players the game takes at once; ValueError for an unknown multi-seat game."""
        if not self.is_multi_seat:
            return 1
        return seated_game(multi_seat_name(self.env_id)).seats

    def seats_in_force(self) -> list[GameSeat]:
        """The seats a match fills, in order: the saved ones; a multi-seat game without any
        has one seat a person takes per player, each its role as the engine names it."""
        # (ordered by index; prefetch_related serves it; a game not saved yet has none)
        saved = list(self.seats.all()) if self.pk else []
        if saved or not self.is_multi_seat:
            return saved
        roles = seated_game(multi_seat_name(self.env_id)).roles
        return [
            GameSeat(game=self, index=index, role=roles[index] if index < len(roles) else "")
            for index in range(self.seat_count)
        ]

    @property
    def thumbnail_url(self) -> str:
        return self.thumbnail.url if self.thumbnail else ""

    def keymap(self) -> KeyMap:
        return KeyMap(
            self.key_map,
            default_action=self.default_action,
            n_actions=max(len(self.action_meanings), 1),
        )

    def controls_list(self) -> list[Control]:
        """What each key does, from the key map in force (derived on save when left empty)."""
        return describe(self.key_map, self.action_meanings)

    def keyboard_controls(self) -> list[Control]:
        """The controls a keyboard has keys for (a board game's clicked moves left out)."""
        return keyboard_only(self.controls_list())

    @property
    def keys_combine(self) -> bool:
        return combines(self.key_map)

    def touch_controls(self) -> list[Control]:
        """The on-screen buttons of touch screens; none means the game needs a keyboard."""
        by_symbol = {control.symbol: control for control in self.controls_list()}
        touch = self.key_map.get("touch") or []
        return [by_symbol[symbol] for symbol in touch if symbol in by_symbol]

    @property
    def board_regions(self) -> list[list[Any]]:
        """A board game's moves as the page clicks them: [left, top, width, height, key code]
        in the frame's pixels (the key map's "board"); none for other games."""
        board = self.key_map.get("board") if isinstance(self.key_map, dict) else None
        regions = board.get("regions") if isinstance(board, dict) else None
        return regions if isinstance(regions, list) else []

    @property
    def on_leave_explained(self) -> str:
        """What a person leaving does to the game, for the players."""
        explained: dict[str, str] = {
            self.OnLeave.AI: "If a player leaves and does not come back, an AI takes over "
            "their seat.",
            self.OnLeave.ABANDON: "If a player leaves and does not come back, the game ends.",
            self.OnLeave.END: "If a player leaves, the game ends for everyone.",
        }
        return explained.get(self.on_leave, "")

    @property
    def pauses(self) -> bool:
        """Whether play pauses while the tab is hidden: only a game on the clock has to."""
        return self.pauses_when_hidden and not self.turn_based

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
            pauses_when_hidden=self.pauses,
            two_sided_score=self.two_sided_score,
            seats=tuple(seat.config() for seat in self.seats_in_force()),
            on_leave=self.on_leave,  # type: ignore[arg-type]  # one of OnLeave's values
            start_countdown=self.start_countdown,
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


class PolicyQuerySet(models.QuerySet["Policy"]):
    def for_game(self, game: Game) -> PolicyQuerySet:
        return self.filter(game=game, enabled=True).order_by("name")


class Policy(models.Model):
    """An AI player for a game's seats: built in (no weights) or a researcher's ONNX model.

    The model file is checked when the policy is saved (``games.services.policy_check``), so a
    bad model is a form error, never a crash at play time. It is stored privately (never served
    as a public file), with its SHA-256, which episodes played by it record.
    """

    class Kind(models.TextChoices):
        RANDOM = "random", "Random (built in: a uniformly random action)"
        PONG_TRACKER = "pong-tracker", "Pong tracker (built in: follows the ball, read from RAM)"
        BOARD = "board", "Board player (built in: wins if it can, blocks if it must; board games)"
        ONNX = "onnx", "ONNX model (uploaded)"

    class Observation(models.TextChoices):
        RGB = "rgb", "RGB screen (H x W x 3 uint8)"
        GRAYSCALE = "grayscale", "Grayscale screen (H x W uint8)"
        RAM = "ram", "RAM (128 uint8, Atari only)"
        ATARI = "atari", "Atari preprocessing (4 x 84 x 84: grayscale, max of two, stack of 4)"

    game = models.ForeignKey(Game, on_delete=models.PROTECT, related_name="policies")
    name = models.CharField(max_length=100, help_text="How researchers and players see it.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ONNX)
    model = models.FileField(
        upload_to="policies/",
        blank=True,
        help_text="An ONNX file: one input, the observation (with or without a batch of 1, "
        "uint8 or float32 of 0..255), and one score per action of the game as its first "
        "output. Checked on save.",
    )
    model_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    observation = models.CharField(
        max_length=16,
        choices=Observation.choices,
        blank=True,
        help_text="What the model sees (ONNX models only).",
    )
    every_k = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1)],
        help_text="It decides every k frames and holds its action between (4: as the "
        "standard Atari agents).",
    )
    enabled = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "policies"
        ordering = ("game", "name")
        constraints = [
            models.UniqueConstraint(fields=("game", "name"), name="policy_unique_name_per_game")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.game})"


class GameSeat(models.Model):
    """One player slot of a game: who it is on the screen, what its person is told and which
    keys they press, and who fills it (a person, an AI policy, or a person else the AI).

    A multi-seat game has one per player, numbered from 0 (``services.game_seats_check``);
    a one-seat game may have one, to give its person a policy that takes over when they leave.
    """

    class Fill(models.TextChoices):
        HUMAN = "human", "A person"
        POLICY = "policy", "The AI policy"
        HUMAN_OR_POLICY = "human_or_policy", "A person, else the AI policy after the wait"

    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="seats")
    index = models.PositiveSmallIntegerField(help_text="0 for the first player.")
    role = models.CharField(
        max_length=200,
        blank=True,
        help_text="Who the seat is on the screen: “the orange paddle, on the left”.",
    )
    instructions = models.TextField(
        blank=True,
        help_text="Shown to the person in this seat. The keys are listed from the key map, so "
        "leave them out of this text.",
    )
    key_map = models.JSONField(
        default=dict, blank=True, help_text="Left empty, the seat plays with the game's key map."
    )
    fill = models.CharField(max_length=16, choices=Fill.choices, default=Fill.HUMAN)
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="seats",
        help_text="The game's AI that fills the seat, or takes it over when its person leaves.",
    )
    human_timeout = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Seconds the waiting room waits for a person before the AI policy sits down "
        "(“a person, else the AI policy” only).",
    )

    class Meta:
        ordering = ("game", "index")
        constraints = [
            models.UniqueConstraint(fields=("game", "index"), name="game_seat_unique_index"),
            # A seat the AI may fill has an AI to fill it with.
            models.CheckConstraint(
                condition=models.Q(fill="human") | models.Q(policy__isnull=False),
                name="game_seat_policy_when_ai_fills",
            ),
        ]

    def __str__(self) -> str:
        return f"Player {self.index + 1}" + (f": {self.role}" if self.role else "")

    def clean(self) -> None:
        if self.fill != self.Fill.HUMAN and self.policy is None:
            raise ValidationError(
                {"policy": "Choose the AI policy that fills this seat, or let a person fill it."}
            )
        if self.policy is not None and self.policy.game_id != self.game_id:
            raise ValidationError(
                {"policy": f"{self.policy} plays another game: choose one of this game's."}
            )

    @property
    def person_may_sit(self) -> bool:
        return self.fill != self.Fill.POLICY

    @property
    def key_map_in_force(self) -> dict[str, Any]:
        return self.key_map or self.game.key_map

    def controls_list(self) -> list[Control]:
        """What each key does in this seat, from its key map (else the game's)."""
        return describe(self.key_map_in_force, self.game.action_meanings)

    def keyboard_controls(self) -> list[Control]:
        """The controls a keyboard has keys for (a board game's clicked moves left out)."""
        return keyboard_only(self.controls_list())

    def filled_by(self) -> str:
        """Who plays this seat, for people: "A person, or Pong tracker (AI) after 30 s"."""
        ai = f"{self.policy.name} (AI)" if self.policy is not None else "an AI"
        if self.fill == self.Fill.POLICY:
            return ai
        if self.fill == self.Fill.HUMAN_OR_POLICY:
            return f"A person, or {ai} if nobody joins within {self.human_timeout} s"
        return "A person"

    def config(self) -> SeatConfig:
        return SeatConfig(
            index=self.index,
            role=self.role,
            instructions=self.instructions,
            key_map=dict(self.key_map),
            fill=self.fill,  # type: ignore[arg-type]  # one of Fill's values
            policy_id=self.policy_id,
            human_timeout=float(self.human_timeout),
        )
