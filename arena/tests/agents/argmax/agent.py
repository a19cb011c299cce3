"""Plays the flat index of the observation's largest value: checks what arrives, and how."""

from typing import Any

import numpy as np


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.shape = tuple(game_info["shape"])

    def act(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        if observation.shape != self.shape or action_mask.dtype != np.int8:
            raise TypeError(f"got {observation.shape} and a mask of {action_mask.dtype}")
        best = int(np.argmax(observation))
        observation[...] = 0  # the agent's own copy: writable
        return best
