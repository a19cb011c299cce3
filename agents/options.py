"""An agent session's options, read from its ``reset`` and checked before anything is built.

OpenEnv's Atari fields (``game_name``, ``obs_type``, ``full_action_space``, ``mode``,
``difficulty``, ``repeat_action_probability``, ``frameskip``) and Arcade's own (``seed``,
``max_steps``, ``encoding``, ``agent_name``, ``agent_version``). The environment options become
the episode's ``env_kwargs``, so each episode records exactly the environment it was played on
and replay verification rebuilds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from games.engine.machines import GameConfig
from games.engine.registry import AtariSettings
from play import protocol as p

ObsType = Literal["rgb", "grayscale", "ram", "palette"]
Encoding = Literal["json", "binary", "delta"]
ENCODINGS: tuple[Encoding, ...] = ("json", "binary", "delta")
OBS_TYPES: tuple[ObsType, ...] = ("rgb", "grayscale", "ram", "palette")
MOST_STEPS = 1_000_000
KNOWN = {
    "game_name", "seed", "obs_type", "full_action_space", "mode", "difficulty",
    "repeat_action_probability", "frameskip", "max_steps", "encoding", "agent_name",
    "agent_version", "episode_id",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Options:
    game_name: str
    seed: int | None = None
    obs_type: ObsType = "rgb"
    full_action_space: bool = False
    mode: int | None = None
    difficulty: int | None = None
    repeat_action_probability: float = 0.0
    frameskip: int = 4
    max_steps: int | None = None
    encoding: Encoding = "json"
    agent_name: str = "agent"
    agent_version: str = ""

    def env_kwargs(self, base: dict[str, Any]) -> dict[str, Any]:
        kwargs = {
            **base,
            "frameskip": self.frameskip,
            "repeat_action_probability": self.repeat_action_probability,
            "full_action_space": self.full_action_space,
        }
        for name in ("mode", "difficulty"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        return kwargs

    def check(self, cartridge: AtariSettings) -> None:
        """Refuse a mode or difficulty the game's cartridge does not have, naming those it has."""
        for name, plural, offered in (
            ("mode", "modes", cartridge.modes),
            ("difficulty", "difficulties", cartridge.difficulties),
        ):
            value = getattr(self, name)
            if value is not None and value not in offered:
                raise p.ProtocolError(
                    "bad_option",
                    f"{self.game_name} has no {name} {value}; its {plural}: "
                    f"{', '.join(map(str, offered))} (see /metadata).",
                )

    def config(self, game: GameConfig) -> GameConfig:
        """The game as this session plays it: its own pool of machines (their kwargs differ)."""
        return dataclasses.replace(
            game,
            env_kwargs=self.env_kwargs(game.env_kwargs),
            max_steps=min(self.max_steps or game.max_steps, MOST_STEPS),
            n_actions=18 if self.full_action_space else game.n_actions,
            turn_based=False,
        )


def _int(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise p.ProtocolError(
            "bad_option", f"'{name}' must be a whole number from {low} to {high}."
        )
    return value


def read(data: Any, *, default_game: str = "pong") -> Options:
    """The options of a ``reset``'s ``data``; ProtocolError naming what to fix."""
    if not isinstance(data, dict):
        raise p.ProtocolError("bad_message", "'data' of a reset must be an object.")
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise p.ProtocolError(
            "bad_option", f"Unknown option {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}."
        )
    game_name = data.get("game_name", default_game)
    if not isinstance(game_name, str) or not 0 < len(game_name) <= 100:
        raise p.ProtocolError("bad_option", "'game_name' must name a game, e.g. \"pong\".")
    obs_type = data.get("obs_type", "rgb")
    if obs_type not in OBS_TYPES:
        raise p.ProtocolError("bad_option", f"'obs_type' must be one of {', '.join(OBS_TYPES)}.")
    encoding = data.get("encoding", "json")
    if encoding not in ENCODINGS:
        raise p.ProtocolError("bad_option", '\'encoding\' must be "json", "binary" or "delta".')
    sticky = data.get("repeat_action_probability", 0.0)
    if isinstance(sticky, bool) or not isinstance(sticky, int | float) or not 0 <= sticky <= 1:
        raise p.ProtocolError("bad_option", "'repeat_action_probability' must be from 0 to 1.")
    full = data.get("full_action_space", False)
    if not isinstance(full, bool):
        raise p.ProtocolError("bad_option", "'full_action_space' must be true or false.")
    names = {name: data.get(name, "") for name in ("agent_name", "agent_version")}
    for name, value in names.items():
        if not isinstance(value, str) or len(value) > 100:
            raise p.ProtocolError("bad_option", f"'{name}' must be text of at most 100 characters.")
    return Options(
        game_name=game_name,
        seed=_int(data, "seed", 0, 2**31 - 1),
        obs_type=obs_type,
        full_action_space=full,
        mode=_int(data, "mode", 0, 255),
        difficulty=_int(data, "difficulty", 0, 255),
        repeat_action_probability=float(sticky),
        frameskip=_int(data, "frameskip", 1, 16) or 4,
        max_steps=_int(data, "max_steps", 1, MOST_STEPS),
        encoding=encoding,
        agent_name=names["agent_name"] or "agent",
        agent_version=names["agent_version"],
    )
