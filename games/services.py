"""Checking and preparing games for play, and loading the default catalogue."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from .catalogue import ATARI_KWARGS, DEFAULT_GAMES
from .engine.boards import BoardMachine
from .engine.keymap import KeyMap, KeyMapError, atari_key_map, digit_key_map
from .engine.machines import make_env
from .engine.multiplayer import MultiAtariMachine
from .engine.registry import is_atari, is_board, is_multi_seat, multi_seat_name
from .models import Game, GameSeat, Policy

if TYPE_CHECKING:
    from .engine import policies as engine_policies

log = logging.getLogger(__name__)


@dataclass
class EnvFacts:
    action_meanings: list[str]  # every seat's (a multi-seat game's seats share one set)
    first_frame: np.ndarray  # RGB
    seat_action_meanings: list[list[str]] = field(default_factory=list)  # per seat, in order

    @property
    def seats(self) -> int:
        return max(len(self.seat_action_meanings), 1)


def env_inspect(env_id: str, env_kwargs: dict[str, Any]) -> EnvFacts:
    """Build the env once and read what play needs; a ValidationError says what is wrong."""
    import gymnasium as gym

    if is_multi_seat(env_id):
        return _multi_seat_inspect(env_id, env_kwargs)

    try:
        env = make_env(env_id, env_kwargs)
    except gym.error.Error as exc:
        raise ValidationError(f"Gymnasium cannot make {env_id!r}: {exc}") from exc
    except TypeError as exc:
        raise ValidationError(f"The env kwargs do not fit {env_id!r}: {exc}") from exc
    except Exception as exc:
        raise ValidationError(f"Building {env_id!r} failed: {exc}") from exc
    try:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValidationError(
                f"{env_id} has a {env.action_space} action space; only Discrete can be played "
                "with keys."
            )
        env.reset(seed=0)
        unwrapped: Any = env.unwrapped
        frame = unwrapped.ale.getScreenRGB() if is_atari(env_id) else env.render()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValidationError(f"{env_id} does not render rgb_array frames (H, W, 3).")
        meanings_fn = getattr(unwrapped, "get_action_meanings", None)
        n = int(env.action_space.n)
        meanings = list(meanings_fn()) if meanings_fn else [str(i) for i in range(n)]
        return EnvFacts(
            action_meanings=meanings,
            first_frame=np.asarray(frame, np.uint8),
            seat_action_meanings=[meanings],
        )
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError(f"Resetting {env_id!r} failed: {exc}") from exc
    finally:
        env.close()


def _multi_seat_inspect(env_id: str, env_kwargs: dict[str, Any]) -> EnvFacts:
    """``env_inspect`` of a multi-seat game (Atari or board): its machine built and started
    once."""
    name = multi_seat_name(env_id)
    machine: MultiAtariMachine | BoardMachine
    try:
        if is_board(env_id):
            machine = BoardMachine(name, **env_kwargs)
        else:
            machine = MultiAtariMachine(name, **env_kwargs)
    except TypeError as exc:
        takes = (
            "max_steps"
            if is_board(env_id)
            else "frameskip, repeat_action_probability, full_action_space and max_steps"
        )
        raise ValidationError(
            f"The env kwargs do not fit {env_id!r}: a multi-seat game takes {takes} ({exc})"
        ) from exc
    except (ValueError, FileNotFoundError) as exc:
        raise ValidationError(f"Cannot build {env_id!r}: {exc}") from exc
    try:
        machine.start(0, None)
        meanings = machine.action_meanings
        if any(seat != meanings[0] for seat in meanings):
            # Game.action_meanings is one list; no game we can build has seats that differ.
            raise ValidationError(
                f"The seats of {env_id!r} choose from different actions, which Arcade cannot "
                "play yet."
            )
        frame = np.asarray(machine.rgb(), np.uint8)
        return EnvFacts(
            action_meanings=list(meanings[0]),
            first_frame=frame,
            seat_action_meanings=[list(seat) for seat in meanings],
        )
    finally:
        machine.close()


def thumbnail_png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def game_prepare(game: Game) -> None:
    """Fill what the engine needs from the env itself; raises ValidationError on bad input.

    Atari games get ale-py's live-play defaults for any kwargs left out, and a key map
    derived from their action meanings when none is given.
    """
    if game.is_atari:  # one- or multi-seat
        game.env_kwargs = {**ATARI_KWARGS, **(game.env_kwargs or {})}
        if not isinstance(game.env_kwargs.get("frameskip"), int):
            raise ValidationError({"env_kwargs": "frameskip must be a whole number for live play."})
    facts = env_inspect(game.env_id, game.env_kwargs)
    game.action_meanings = facts.action_meanings
    game.frame_shape = list(facts.first_frame.shape[:2])
    if not game.key_map:
        if game.is_atari:
            game.key_map = atari_key_map(facts.action_meanings)
        else:
            game.key_map = digit_key_map(len(facts.action_meanings))
    try:
        KeyMap(
            game.key_map, default_action=game.default_action, n_actions=len(facts.action_meanings)
        )
    except KeyMapError as exc:
        raise ValidationError({"key_map": str(exc)}) from exc
    if not game.thumbnail:
        game.thumbnail.save(
            f"{game.slug}.png", ContentFile(thumbnail_png(facts.first_frame)), save=False
        )


def game_seats_check(*, game: Game, seats: Sequence[GameSeat]) -> None:
    """Check that ``seats`` (saved or not) fit ``game`` together; a ValidationError lists, in
    words an admin can act on, everything that does not.

    A multi-seat game has a seat per player, numbered from 0, or none (then every seat is a
    person's). A one-seat game has at most seat 0, filled by the person who opens the game.
    Some seat must be open to a person (people open every game in the browser), and when a
    person leaving hands their seat to its AI (``on_leave`` "ai"), each such seat has one.
    """
    try:
        count = game.seat_count
    except ValueError:
        return  # an unknown multi-seat game: the env's own error says so
    errors: list[str] = []
    indices = sorted(seat.index for seat in seats)
    if game.is_multi_seat:
        if seats and indices != list(range(count)):
            numbers = ", ".join(str(index) for index in indices)
            errors.append(
                f"{game.env_id} has {count} players: give it one seat for each, numbered 0 to "
                f"{count - 1} (or none, for a person in every seat), not seats {numbers}."
            )
    elif indices not in ([], [0]):
        errors.append("A one-player game has one seat at most, numbered 0.")
    elif seats and seats[0].fill != GameSeat.Fill.HUMAN:
        errors.append(
            "A one-player game is played by the person who opens it: fill its seat with a "
            "person (the seat's AI policy takes over when they leave)."
        )
    in_force = list(seats) or game.seats_in_force()  # none: a one-seat game's person
    if in_force and not any(seat.person_may_sit for seat in in_force):
        errors.append("Open at least one seat to a person: people play this game in the browser.")
    if game.is_multi_seat and game.on_leave == Game.OnLeave.AI:
        lacking = [seat for seat in in_force if seat.person_may_sit and seat.policy is None]
        if lacking:
            players = [str(seat.index + 1) for seat in lacking]
            names = (
                f"player {players[0]} has"
                if len(players) == 1
                else f"players {', '.join(players[:-1])} and {players[-1]} have"
            )
            errors.append(
                f"When a person leaves, their seat's AI policy takes over, but {names} "
                "none: choose one for each seat, or another “on leave”."
            )
    for seat in seats:
        errors.extend(_seat_problems(game, seat))
    if errors:
        raise ValidationError(errors)


def _seat_problems(game: Game, seat: GameSeat) -> list[str]:
    """What is wrong with one seat's key map and AI policy in ``game`` (the game as edited)."""
    problems = []
    if seat.key_map:
        try:
            KeyMap(
                seat.key_map,
                default_action=game.default_action,
                n_actions=max(len(game.action_meanings), 1),
            )
        except KeyMapError as exc:
            problems.append(f"Player {seat.index + 1}'s key map: {exc}")
    policy = seat.policy
    if policy is not None and policy.game_id == game.pk and 0 <= seat.index < game.seat_count:
        policy.game = game  # as edited: its env and actions, not the saved ones
        try:
            policy_build(policy, seat=seat.index)
        except ValueError as exc:
            problems.append(f"{policy.name} cannot play player {seat.index + 1}: {exc}.")
    return problems


def catalogue_game_create(entry: Mapping[str, Any], **fields: Any) -> Game:
    """Install one entry of the default catalogue (``fields`` override its own), with the
    built-in AI players and the seats it lists, checked as the admin checks them."""
    own = {name: value for name, value in entry.items() if name not in ("policies", "seats")}
    game = Game(**{**own, **fields})
    game_prepare(game)
    with transaction.atomic():
        game.save()
        policies = {}
        for spec in entry.get("policies", []):
            policy = Policy(game=game, **spec)
            policy_check(policy, model=None)
            policy.save()
            policies[policy.name] = policy
        seats = [
            GameSeat(game=game, **{**spec, "policy": policies.get(spec.get("policy") or "")})
            for spec in entry.get("seats", [])
        ]
        for seat in seats:
            seat.full_clean(exclude=["game"])
        game_seats_check(game=game, seats=seats)
        GameSeat.objects.bulk_create(seats)
    return game


def catalogue_load(*, dry_run: bool = False) -> list[str]:
    """Create the default games that are missing; existing games are left as admins made them."""
    created: list[str] = []
    for entry in DEFAULT_GAMES:
        if Game.objects.filter(slug=entry["slug"]).exists():
            continue
        if not dry_run:
            catalogue_game_create(entry, display_order=len(created) + Game.objects.count())
        created.append(entry["slug"])
    return created


def catalogue_policies(*, dry_run: bool = False) -> list[str]:
    """Give installed default games the built-in AI players the catalogue lists for them and
    they lack (by name: one an admin renamed or removed comes back); "slug: name" of each."""
    added: list[str] = []
    for entry in DEFAULT_GAMES:
        game = Game.objects.filter(slug=entry["slug"]).first()
        for spec in entry.get("policies", []) if game is not None else []:
            if Policy.objects.filter(game=game, name=spec["name"]).exists():
                continue
            added.append(f"{entry['slug']}: {spec['name']}")
            if not dry_run:
                policy = Policy(game=game, **spec)
                policy_check(policy, model=None)
                policy.save()
    return added


def catalogue_update_keys(*, dry_run: bool = False) -> list[str]:
    """Give installed default games the catalogue's key maps where nobody chose their keys.

    A game whose key map is the one derived from its actions (as installed before the
    catalogue named keys, Pong's paddle on Left and Right), or the catalogue's own without
    what its keys do, gets the catalogue's. A key map an admin wrote is kept.
    """
    updated: list[str] = []
    for entry in DEFAULT_GAMES:
        game = Game.objects.filter(slug=entry["slug"]).first()
        if game is None or game.key_map == entry["key_map"]:
            continue
        derived = atari_key_map(game.action_meanings) if game.is_atari else None
        bare = {"keys": entry["key_map"]["keys"], "combos": entry["key_map"]["combos"]}
        if game.key_map not in (derived, bare):
            continue
        updated.append(game.slug)
        if not dry_run:
            Game.objects.filter(pk=game.pk).update(key_map=entry["key_map"])
    return updated


class PolicyUnfit(ValueError):
    """The policy's settings cannot play its game; ``field`` names the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def plays_pong(env_id: str) -> bool:
    """Whether the Pong tracker can play this game: one-player Pong, or two-player Pong,
    whose RAM has both paddles where the tracker reads them (the four-player modes do not)."""
    return env_id == "multi/pong" or (is_atari(env_id) and "Pong" in env_id)


def policy_build(
    policy: Policy, *, seat: int = 0, model: bytes | None = None
) -> engine_policies.Policy:
    """The engine's policy for ``policy`` (``games.engine.policies``), ready to ``act``.

    ``seat``: the player it plays (a multi-seat game's seats share one action set, so only a
    policy that reads the screen's positions, the Pong tracker, plays each seat differently).

    ``model``: the ONNX file's bytes when they are at hand (a form being checked); else the
    stored file is read. Raises ValueError with a message a researcher can act on.
    """
    from .engine import policies as engine_policies  # onnxruntime: loaded when first needed

    game = policy.game
    if not 0 <= seat < game.seat_count:
        raise PolicyUnfit("game", f"{game} has no player {seat + 1}: it has {game.seat_count}")
    board = is_board(game.env_id)
    if policy.kind == Policy.Kind.BOARD and not board:
        raise PolicyUnfit("kind", f"the board player plays board games; {game} is {game.env_id}")
    if board and policy.kind not in (Policy.Kind.BOARD, Policy.Kind.RANDOM):
        raise PolicyUnfit(
            "kind", "a board game's AI is built in: the board player, or a random legal move"
        )
    if policy.kind == Policy.Kind.ONNX:
        if model is None:
            with policy.model.open("rb") as stored:
                model = stored.read()
        if not policy.observation:
            raise PolicyUnfit("observation", "an ONNX policy needs the observation its model takes")
        if policy.observation == Policy.Observation.RAM and not game.is_atari:
            raise PolicyUnfit("observation", "only Atari games have a RAM to observe")
        frame_shape = tuple(game.frame_shape[:2]) if game.frame_shape else (210, 160)
        return engine_policies.OnnxPolicy(
            model,
            observation=policy.observation,
            n_actions=len(game.action_meanings),
            frame_shape=(int(frame_shape[0]), int(frame_shape[1])),
            every_k=policy.every_k,
        )
    if policy.kind == Policy.Kind.PONG_TRACKER and not plays_pong(game.env_id):
        raise PolicyUnfit(
            "kind", f"the Pong tracker plays Pong (one- or two-player); {game} is {game.env_id}"
        )
    return engine_policies.built_in(
        policy.kind,
        action_meanings=game.action_meanings,
        seat=seat,
        every_k=policy.every_k,
        board=board,
    )


def policy_check(policy: Policy, *, model: bytes | None) -> None:
    """Check a policy before it is saved (raises ValidationError naming the field at fault);
    records the model's SHA-256."""
    if policy.kind == Policy.Kind.ONNX and model is None and not policy.model:
        raise ValidationError({"model": "Upload the ONNX model of this policy."})
    if policy.kind != Policy.Kind.ONNX and (model is not None or policy.model):
        raise ValidationError({"model": "A built-in policy has no model file: leave it empty."})
    if policy.kind != Policy.Kind.ONNX and policy.observation:
        raise ValidationError({"observation": "Built-in policies read what they need."})
    try:
        policy_build(policy, model=model)
    except ValueError as exc:  # the model's own problems are the model field's
        field = exc.field if isinstance(exc, PolicyUnfit) else "model"
        raise ValidationError({field: f"This policy cannot play {policy.game}: {exc}."}) from exc
    if model is not None:
        policy.model_sha256 = hashlib.sha256(model).hexdigest()
