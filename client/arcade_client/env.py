"""``ArcadeEnv``: a Gymnasium env whose game runs on an Arcade server, for training code that
would otherwise step a local emulator.

    env = gymnasium.make("arcade_client:Arcade-v0", game_name="pong")  # ARCADE_URL, ARCADE_TOKEN

Every episode it plays is recorded by the server like a person's. ``reset(seed=n)`` sends the
seed, so a seeded episode replays the same screens; a reset without one sends a seed drawn from
the env's ``np_random``, so a run seeded once is reproducible from there on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import endpoint
from .client import Client
from .endpoint import TIMEOUT
from .spaces import NoActionMeaningsError, actions, check_observation, observation_space
from .wire import Observation, ResetOptions, SessionOptions

if TYPE_CHECKING:  # typing's Unpack is Python 3.11's; the annotations are never evaluated
    from typing import Unpack

# An env's session options unless it is made with others. Sent with every reset whatever the
# server's own defaults are: the env's spaces are built from them.
DEFAULTS: SessionOptions = {
    "game_name": "pong",
    "obs_type": "rgb",
    "frameskip": 4,
    "full_action_space": False,
    "repeat_action_probability": 0.0,
    "encoding": "delta",
}
# Options a reset's ``options`` may not change: the spaces were built from them.
FIXED = frozenset({"game_name", "obs_type", "full_action_space", "encoding"})
ATARI_FPS = 60


class ArcadeEnv(gym.Env[np.ndarray, np.int64]):
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": ATARI_FPS / 4}

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        render_mode: str | None = None,
        timeout: float | None = TIMEOUT,
        **options: Unpack[SessionOptions],
    ) -> None:
        """``options``: the session's (``SessionOptions``: ``game_name``, ``obs_type``,
        ``frameskip``, ``max_steps``, …), over the env's ``DEFAULTS``."""
        self.options = session_options(options)
        check_render_mode(render_mode, self.options["obs_type"])
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": render_fps(self.options)}
        self.observation_space = observation_space(self.options["obs_type"])
        self.client, n, self.action_meanings = connect(
            url, token, timeout=timeout, options=self.options
        )
        self.action_space: spaces.Discrete = spaces.Discrete(n)
        self._seen: Observation | None = None
        self._steps = 0
        self._max_steps = self.options.get("max_steps")

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode; ``options`` may change the session's other options for it (e.g.
        ``max_steps``, ``mode``), not those the spaces are built from."""
        super().reset(seed=seed)
        session = changed(self.options, options)
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        self._seen = seen = self.client.reset(**seeded(session, seed))
        check_observation(self.observation_space, int(self.action_space.n), seen)
        self._steps = 0
        self._max_steps = session.get("max_steps")
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
            raise NoActionMeaningsError(
                self.options.get("game_name"), endpoint.http_url(self.client.url, "/metadata")
            )
        return list(self.action_meanings)

    def close(self) -> None:
        """Ends the session (an episode still running ends as abandoned); safe to call twice."""
        self.client.close()
        super().close()


def session_options(options: Mapping[str, Any]) -> SessionOptions:
    """An env's session options: ``options`` over its ``DEFAULTS``. A name that is not one of
    ``SessionOptions`` is a TypeError, as an unknown keyword is."""
    unknown = sorted(set(options) - SessionOptions.__optional_keys__)
    if unknown:
        known = ", ".join(sorted(SessionOptions.__optional_keys__))
        raise TypeError(
            f"Unknown option {unknown[0]!r}: an env's are {known} (a seed is reset()'s)."
        )
    return cast(SessionOptions, {**DEFAULTS, **options})


def changed(options: SessionOptions, changes: Mapping[str, Any] | None) -> SessionOptions:
    """A session's options with a reset's ``options``, which may not change those the spaces
    were built from (``FIXED``)."""
    fixed = FIXED & set(changes or {})
    if fixed:
        raise ValueError(f"{sorted(fixed)} are fixed when the env is made; make another.")
    return cast(SessionOptions, {**options, **(changes or {})})


def seeded(options: SessionOptions, seed: int | None) -> ResetOptions:
    """A reset's options: the session's and the episode's seed."""
    return {**options, "seed": seed}


def render_fps(options: SessionOptions) -> float:
    """Frames a second the env's screens show, as ALE's: 60 over the frameskip."""
    return ATARI_FPS / cast(int, options["frameskip"])


def connect(
    url: str | None,
    token: str | None,
    *,
    timeout: float | None,
    options: SessionOptions,
    session: str = "",
) -> tuple[Client, int, tuple[str, ...] | None]:
    """A client for an env, and the number of the game's actions and their names if known
    (``spaces.actions``: a reset of ``session`` asks the server when its /metadata cannot)."""
    client = Client(url, token, timeout=timeout)
    try:
        n, meanings = actions(
            url=client.url,
            token=token,
            game_name=options["game_name"],
            full_action_space=bool(options["full_action_space"]),
            probe=lambda: client.reset(session=session, **options),
        )
    except BaseException:
        client.close()
        raise
    return client, n, meanings


def check_render_mode(render_mode: str | None, obs_type: str | None) -> None:
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
