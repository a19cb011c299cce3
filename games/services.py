"""Checking and preparing games for play, and loading the default catalogue."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from .catalogue import ATARI_KWARGS, DEFAULT_GAMES
from .engine.keymap import KeyMap, KeyMapError, atari_key_map, digit_key_map
from .engine.machines import make_env
from .engine.registry import is_atari
from .models import Game, Policy

if TYPE_CHECKING:
    from .engine import policies as engine_policies

log = logging.getLogger(__name__)


@dataclass
class EnvFacts:
    action_meanings: list[str]
    first_frame: np.ndarray  # RGB


def env_inspect(env_id: str, env_kwargs: dict[str, Any]) -> EnvFacts:
    """Build the env once and read what play needs; a ValidationError says what is wrong."""
    import gymnasium as gym

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
        return EnvFacts(action_meanings=meanings, first_frame=np.asarray(frame, np.uint8))
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError(f"Resetting {env_id!r} failed: {exc}") from exc
    finally:
        env.close()


def thumbnail_png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def game_prepare(game: Game) -> None:
    """Fill what the engine needs from the env itself; raises ValidationError on bad input.

    Atari games get ale-py's live-play defaults for any kwargs left out, and a key map
    derived from their action meanings when none is given.
    """
    if is_atari(game.env_id):
        game.env_kwargs = {**ATARI_KWARGS, **(game.env_kwargs or {})}
        if not isinstance(game.env_kwargs.get("frameskip"), int):
            raise ValidationError({"env_kwargs": "frameskip must be a whole number for live play."})
    facts = env_inspect(game.env_id, game.env_kwargs)
    game.action_meanings = facts.action_meanings
    game.frame_shape = list(facts.first_frame.shape[:2])
    if not game.key_map:
        if is_atari(game.env_id):
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


def catalogue_load(*, dry_run: bool = False) -> list[str]:
    """Create the default games that are missing; existing games are left as admins made them."""
    created: list[str] = []
    for entry in DEFAULT_GAMES:
        if Game.objects.filter(slug=entry["slug"]).exists():
            continue
        game = Game(display_order=len(created) + Game.objects.count(), **entry)
        if dry_run:
            created.append(game.slug)
            continue
        game_prepare(game)
        with transaction.atomic():
            game.save()
        created.append(game.slug)
    return created


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


def policy_build(
    policy: Policy, *, seat: int = 0, model: bytes | None = None
) -> engine_policies.Policy:
    """The engine's policy for ``policy`` (``games.engine.policies``), ready to ``act``.

    ``model``: the ONNX file's bytes when they are at hand (a form being checked); else the
    stored file is read. Raises ValueError with a message a researcher can act on.
    """
    from .engine import policies as engine_policies  # onnxruntime: loaded when first needed

    game = policy.game
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
    if policy.kind == Policy.Kind.PONG_TRACKER and "Pong" not in game.env_id:
        raise PolicyUnfit("kind", f"the Pong tracker plays Pong; {game} is {game.env_id}")
    return engine_policies.built_in(
        policy.kind, action_meanings=game.action_meanings, seat=seat, every_k=policy.every_k
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
