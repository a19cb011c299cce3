"""Arcade's own Gymnasium environments; importing this package registers them."""

from __future__ import annotations

import gymnasium

TOWER_OF_HANOI = "arcade/TowerOfHanoi-v0"


def register_envs() -> None:
    """Register Arcade's environments with Gymnasium; safe to call more than once."""
    if TOWER_OF_HANOI not in gymnasium.envs.registry:
        gymnasium.register(id=TOWER_OF_HANOI, entry_point="games.envs.hanoi:TowerOfHanoiEnv")


register_envs()
