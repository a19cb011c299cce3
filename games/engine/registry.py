"""Make every environment the arcade can host known to Gymnasium."""

from __future__ import annotations

import gymnasium as gym


def register_all() -> None:
    import ale_py

    import games.envs  # noqa: F401  registers arcade/TowerOfHanoi-v0 on import

    gym.register_envs(ale_py)
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/")
