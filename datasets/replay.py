"""RAM observations by replay: the episode's env rebuilt from its seed, stepped with its actions.

The recording keeps screens, not RAM, so RAM comes from running the emulator again. This is
the ``observations.RamSource`` the exporter uses; it drives ale-py as the live machine does
(``games.engine.machines``: ``gym.make(env_id, **kwargs).reset(seed=seed)``, then ``ale.act``
``frameskip`` times per step), and checks every replayed screen against the stored frame, so a
RAM state never stands beside a screen it did not produce.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from games.engine.machines import make_env
from recording.frames import episode_data
from recording.models import Episode


class ReplayMismatch(ValueError):
    """The replayed screen differs from the stored one: the RAM would not match the frames."""


def ale_ram(episode: Episode) -> Iterator[np.ndarray]:
    """The T + 1 RAM states (128 bytes each) of an Atari episode: after reset, after each step."""
    spec = episode.env_spec
    data = episode_data(episode)
    env = make_env(spec["env_id"], dict(spec.get("env_kwargs") or {}))
    try:
        unwrapped = env.unwrapped
        env.reset(seed=episode.seed)
        ale = unwrapped.ale  # type: ignore[attr-defined]
        action_set = list(unwrapped._action_set)  # type: ignore[attr-defined]
        frameskip = int(spec.get("env_kwargs", {}).get("frameskip", unwrapped._frameskip))  # type: ignore[attr-defined]
        screen = np.empty(tuple(ale.getScreenDims()), np.uint8)
        for number in range(data.n_steps + 1):
            if number:
                action = action_set[int(data.steps["action"][number - 1])]
                for _ in range(frameskip):
                    ale.act(action, 1.0)
            ale.getScreen(screen)
            if not np.array_equal(screen, data.frames[number]):
                raise ReplayMismatch(
                    f"episode {episode.pk}: replayed frame {number} differs from the stored one"
                )
            yield ale.getRAM().copy()
    finally:
        env.close()
