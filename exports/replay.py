"""RAM observations by replay: the episode's env rebuilt from its seed, stepped with its actions.

The recording keeps screens, not RAM, so RAM comes from running the emulator again. This is
the ``observations.RamSource`` the exporter uses; it replays with ``games.engine.replay`` (the
live machine's own stepping, as replay verification does) and checks every replayed screen
against the stored frame, so a RAM state never stands beside a screen it did not produce.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from games.engine.replay import replay
from recording.frames import episode_data
from recording.models import Episode


class ReplayMismatch(ValueError):
    """The replayed screen differs from the stored one: the RAM would not match the frames."""


def ale_ram(episode: Episode) -> Iterator[np.ndarray]:
    """The T + 1 RAM states (128 bytes each) of an Atari episode: after reset, after each step."""
    spec = episode.env_spec
    data = episode_data(episode)
    actions = [int(action) for action in data.steps["action"]]
    replayed = replay(
        spec["env_id"], dict(spec.get("env_kwargs") or {}), episode.seed, actions, with_ram=True
    )
    for number, step in enumerate(replayed):
        if not np.array_equal(step.frame, data.frames[number]):
            raise ReplayMismatch(
                f"episode {episode.pk}: replayed frame {number} differs from the stored one"
            )
        assert step.ram is not None
        yield step.ram
