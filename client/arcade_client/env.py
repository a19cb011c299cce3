"""``ArcadeEnv``: a Gymnasium env whose game runs on an Arcade server, for training code that
would otherwise step a local emulator.

    env = gymnasium.make("arcade_client:Arcade-v0", game_name="pong")  # ARCADE_URL, ARCADE_TOKEN

Every episode it plays is recorded by the server like a person's. ``reset(seed=n)`` sends the
seed, so a seeded episode replays the same screens; a reset without one sends a seed drawn from
the env's ``np_random``, so a run seeded once is reproducible from there on.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import wire
from .client import Client
from .spaces import actions, check_observation, observation_space
from .wire import Observation

# Options a reset's ``options`` may not change: the spaces were built from them.
FIXED = {"game_name", "obs_type", "full_action_space", "encoding"}
ATARI_FPS = 60


class ArcadeEnv(gym.Env[np.ndarray, np.int64]):
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": ATARI_FPS / 4}

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        game_name: str = "pong",
        obs_type: wire.ObsType = "rgb",
        frameskip: int = 4,
        full_action_space: bool = False,
        mode: int | None = None,
        difficulty: int | None = None,
        repeat_action_probability: float = 0.0,
        max_steps: int | None = None,
        agent_name: str | None = None,
        agent_version: str | None = None,
        encoding: wire.Encoding = "binary",
        render_mode: str | None = None,
        timeout: float | None = 60.0,
    ) -> None:
        check_render_mode(render_mode, obs_type)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": ATARI_FPS / frameskip}
        self.observation_space = observation_space(obs_type)
        self.options: dict[str, Any] = {
            "game_name": game_name,
            "obs_type": obs_type,
            "frameskip": frameskip,
            "full_action_space": full_action_space,
            "mode": mode,
            "difficulty": difficulty,
            "repeat_action_probability": repeat_action_probability,
            "max_steps": max_steps,
            "agent_name": agent_name,
            "agent_version": agent_version,
            "encoding": encoding,
        }
        self.client = Client(url, token, timeout=timeout)
        self.action_meanings: tuple[str, ...] | None = None
        try:
            n, self.action_meanings = actions(
                url=self.client.url,
                token=token,
                game_name=game_name,
                full_action_space=full_action_space,
                probe=lambda: self.client.reset(**self.options),
            )
        except BaseException:
            self.client.close()
            raise
        self.action_space: spaces.Discrete = spaces.Discrete(n)
        self._seen: Observation | None = None
        self._steps = 0
        self._max_steps = max_steps

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode; ``options`` may change the session's other options for it (e.g.
        ``max_steps``, ``mode``), not those the spaces are built from."""
        super().reset(seed=seed)
        fixed = FIXED & set(options or {})
        if fixed:
            raise ValueError(f"{sorted(fixed)} are fixed when the env is made; make another.")
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        request = {**self.options, **(options or {}), "seed": seed}
        self._seen = seen = self.client.reset(**request)
        check_observation(self.observation_space, int(self.action_space.n), seen)
        self._steps = 0
        self._max_steps = request["max_steps"]
        return seen.screen, info(seen)

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        self._seen = seen = self.client.step(int(action))
        self._steps += 1
        terminated, truncated = ends(seen, steps=self._steps, max_steps=self._max_steps)
        return seen.screen, seen.reward, terminated, truncated, info(seen)

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array" or self._seen is None:
            return None
        screen = self._seen.screen
        return screen if screen.ndim == 3 else np.repeat(screen[..., None], 3, axis=2)

    def get_action_meanings(self) -> list[str]:
        """The actions' names, as ALE's env gives them (wrappers look for ``FIRE``)."""
        if self.action_meanings is None:
            raise NotImplementedError("This server does not list its games' actions (/metadata).")
        return list(self.action_meanings)

    def close(self) -> None:
        """Ends the session (an episode still running ends as abandoned); safe to call twice."""
        self.client.close()
        super().close()


def check_render_mode(render_mode: str | None, obs_type: str) -> None:
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}.")
    if render_mode == "rgb_array" and obs_type not in ("rgb", "grayscale"):
        raise ValueError(f"A {obs_type} observation cannot be rendered: use obs_type='rgb'.")


def ends(seen: Observation, *, steps: int, max_steps: int | None) -> tuple[bool, bool]:
    """(terminated, truncated) of a step: as the server says, or, from a server that says only
    ``done``, truncated when the session's own ``max_steps`` ended it."""
    if seen.terminated is not None and seen.truncated is not None:
        return seen.terminated, seen.truncated
    if not seen.done:
        return False, False
    cut = max_steps is not None and steps >= max_steps
    return not cut, cut


def info(seen: Observation) -> dict[str, Any]:
    """A step's info, as ALE's own env gives it."""
    return {
        "lives": seen.lives,
        "episode_frame_number": seen.episode_frame_number,
        "frame_number": seen.frame_number,
    }
