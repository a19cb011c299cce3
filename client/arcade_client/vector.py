"""``ArcadeVectorEnv``: many sessions of one game on one socket, stepped together.

Each step sends every session's request before reading any reply (the server answers each
session in order and names it in its replies), so ``num_envs`` sessions cost one round trip a
step rather than ``num_envs``. Episodes reset themselves as Gymnasium's vector envs do
(``autoreset_mode``, next step by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from . import wire
from .endpoint import TIMEOUT
from .env import (
    changed,
    check_render_mode,
    connect,
    ends,
    info,
    render_fps,
    seeded,
    session_options,
)
from .spaces import check_observation, observation_space
from .wire import Observation, Request, SessionOptions, observation_of

if TYPE_CHECKING:  # typing's Unpack is Python 3.11's; the annotations are never evaluated
    from typing import Unpack


class ArcadeVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    metadata: dict[str, Any] = {
        "render_modes": ["rgb_array"],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        url: str | None = None,
        token: str | None = None,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        session_prefix: str = "env",
        timeout: float | None = TIMEOUT,
        **options: Unpack[SessionOptions],
    ) -> None:
        """``options``: every session's, as ``ArcadeEnv``'s (``SessionOptions``: ``game_name``,
        ``obs_type``, ``max_steps``, …)."""
        if num_envs < 1:
            raise ValueError("num_envs must be at least 1.")
        self.options = session_options(options)
        check_render_mode(render_mode, self.options["obs_type"])
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {
            **self.metadata,
            "autoreset_mode": self.autoreset_mode,
            "render_fps": render_fps(self.options),
        }
        self.sessions = [f"{session_prefix}{i}" for i in range(num_envs)]
        self.single_observation_space = observation_space(self.options["obs_type"])
        self.client, n, self.action_meanings = connect(
            url, token, timeout=timeout, options=self.options, session=self.sessions[0]
        )
        self.single_action_space: spaces.Discrete = spaces.Discrete(n)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        # Each session draws the seed of a reset it was not given one for from its own
        # generator, seeded by the seed it was last given: a seeded run replays whole.
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._seen: list[Observation | None] = [None] * num_envs
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._max_steps: list[int | None] = [self.options.get("max_steps")] * num_envs
        self._autoreset = np.zeros(num_envs, dtype=np.bool_)

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Every session's new episode, or those of ``options["reset_mask"]``."""
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        session = changed(self.options, options)
        seeds = _seeds(seed, self.num_envs)
        chosen = range(self.num_envs) if mask is None else np.flatnonzero(mask).tolist()
        for i in chosen:
            if seeds[i] is not None:
                self._rngs[i] = np.random.default_rng(seeds[i])
        replies = self._ask([self._reset(i, seeds[i], session) for i in chosen])
        infos: dict[str, Any] = {}
        for i, seen in zip(chosen, replies, strict=True):
            self._reset_done(i, seen, session)
            infos = self._add_info(infos, info(seen), i)
        self._autoreset[list(chosen)] = False
        return self._observations(), infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        if self.autoreset_mode is AutoresetMode.DISABLED and self._autoreset.any():
            raise ValueError(
                "An episode ended: reset it (reset(options={'reset_mask': ...})) before stepping."
            )
        resetting = (
            self._autoreset.copy()
            if self.autoreset_mode is AutoresetMode.NEXT_STEP
            else (np.zeros(self.num_envs, dtype=np.bool_))
        )
        requests = [
            self._reset(i, None, self.options)
            if resetting[i]
            else wire.step(int(actions[i]), session=name)
            for i, name in enumerate(self.sessions)
        ]
        replies = self._ask(requests)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for i, seen in enumerate(replies):
            if resetting[i]:
                self._reset_done(i, seen, self.options)
            else:
                self._seen[i] = seen
                self._steps[i] += 1
                rewards[i] = seen.reward
                terminations[i], truncations[i] = ends(
                    seen, steps=int(self._steps[i]), max_steps=self._max_steps[i]
                )
            infos = self._add_info(infos, info(seen), i)
        ended = terminations | truncations
        if self.autoreset_mode is AutoresetMode.SAME_STEP and ended.any():
            chosen = np.flatnonzero(ended).tolist()
            for i in chosen:
                final = self._seen[i]
                assert final is not None
                infos = self._add_info(
                    infos, {"final_obs": final.screen, "final_info": info(final)}, i
                )
            for i, seen in zip(
                chosen, self._ask([self._reset(i, None, self.options) for i in chosen]), strict=True
            ):
                self._reset_done(i, seen, self.options)
                infos = self._add_info(infos, info(seen), i)
        else:
            self._autoreset = ended
        return self._observations(), rewards, terminations, truncations, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        screens = [seen.screen for seen in self._seen if seen is not None]
        return tuple(s if s.ndim == 3 else np.repeat(s[..., None], 3, axis=2) for s in screens)

    def close_extras(self, **kwargs: Any) -> None:
        """Ends every session and the socket (episodes still running end as abandoned)."""
        self.client.close()

    def _reset(self, i: int, seed: int | None, options: SessionOptions) -> Request:
        rng = self._rngs[i]
        if seed is None and rng is not None:
            seed = int(rng.integers(2**31 - 1))
        return wire.reset(session=self.sessions[i], **seeded(options, seed))

    def _reset_done(self, i: int, seen: Observation, options: SessionOptions) -> None:
        check_observation(self.single_observation_space, int(self.single_action_space.n), seen)
        self._seen[i] = seen
        self._steps[i] = 0
        self._max_steps[i] = options.get("max_steps")

    def _ask(self, requests: list[Request]) -> list[Observation]:
        return [observation_of(reply) for reply in self.client.ask_many(requests)]

    def _observations(self) -> np.ndarray:
        return np.stack([seen.screen for seen in self._seen if seen is not None])


def _seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(n)]
    if len(seed) != n:
        raise ValueError(f"Pass one seed per env: {n} seeds, not {len(seed)}.")
    return list(seed)
