"""A session's Gymnasium spaces: the screen's shape from its ``obs_type``, the number of
actions from the server's catalogue (``/metadata``).

Gymnasium (and every trainer built on it) reads the spaces before the first reset, so the
action count cannot wait for the first observation's ``legal_actions``.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from . import endpoint
from .wire import ArcadeError, Observation

# Every Atari game's screen is 210x160; RAM is 128 bytes. palette: the frame's palette indices.
SHAPES: dict[str, tuple[int, ...]] = {
    "rgb": (210, 160, 3),
    "grayscale": (210, 160),
    "ram": (128,),
    "palette": (210, 160),
}
FULL_ACTION_SPACE = 18


def observation_space(obs_type: str | None) -> spaces.Box:
    if obs_type not in SHAPES:
        raise ValueError(f"obs_type must be one of {', '.join(SHAPES)}, not {obs_type!r}.")
    return spaces.Box(0, 255, SHAPES[obs_type], np.uint8)


def check_observation(screens: spaces.Space[Any], actions: int, seen: Observation) -> None:
    """A reset's observation is what the spaces said it would be."""
    if seen.screen.shape != screens.shape or seen.screen.dtype != screens.dtype:
        raise ArcadeError(
            "bad_reply",
            f"The server sent a {seen.obs_type} screen of shape {seen.screen.shape} "
            f"({seen.screen.dtype}), not {screens.shape} ({screens.dtype}) as expected.",
        )
    if len(seen.legal_actions) != actions:
        raise ArcadeError(
            "bad_reply",
            f"The server allows {len(seen.legal_actions)} actions, not {actions} as its "
            "/metadata said.",
        )


class NoActionMeaningsError(ArcadeError, NotImplementedError):
    """The server does not name a game's actions, so an env cannot say what they mean (its
    ``get_action_meanings()``, which wrappers such as ``FireResetEnv`` call). A
    NotImplementedError too, as an env raised before this error was its own, so code that
    catches that still does."""

    def __init__(self, game_name: str | None, metadata_url: str) -> None:
        super().__init__(
            "no_action_meanings",
            f"The server does not name {game_name}'s actions ({metadata_url} lists no "
            "action_meanings for it, or there is no /metadata), so the env knows them by number "
            "only. Make the env with full_action_space=True for ALE's 18 named actions, or point "
            "it at a server whose /metadata lists them (an Arcade server's does).",
        )
        self.game_name = game_name


# ALE's full action space, in its order (``full_action_space``).
FULL_ACTIONS = (
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT",
    "DOWNLEFT", "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE",
    "DOWNRIGHTFIRE", "DOWNLEFTFIRE",
)  # fmt: skip


def actions(
    *,
    url: str | None,
    token: str | None,
    game_name: str | None,
    full_action_space: bool,
    probe: Callable[[], Observation],
) -> tuple[int, tuple[str, ...] | None]:
    """How many actions the game takes, and their names when known: ALE's 18 with the full
    action space, else the game's minimal set as the server's ``/metadata`` lists it, else (a
    server without it) as a reset shows (``probe``; the server records that episode too, ended
    as restarted), unnamed."""
    if full_action_space:
        return len(FULL_ACTIONS), FULL_ACTIONS
    try:
        metadata = endpoint.get_json(url, "/metadata", token)
    except (urllib.error.URLError, ValueError, OSError):
        metadata = None
    meanings = listed_actions(metadata, game_name)
    if meanings is not None:
        return len(meanings), meanings
    return len(probe().legal_actions), None


def listed_actions(metadata: Any, game_name: str | None) -> tuple[str, ...] | None:
    """The action names of ``game_name`` in ``/metadata``'s ``games``, if it is there."""
    games = metadata.get("games") if isinstance(metadata, dict) else None
    for game in games if isinstance(games, list) else []:
        if isinstance(game, dict) and game.get("game_name") == game_name:
            meanings = game.get("action_meanings")
            if isinstance(meanings, list) and meanings:
                return tuple(str(meaning) for meaning in meanings)
    return None
