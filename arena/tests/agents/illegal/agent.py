"""Plays a move the mask forbids."""

from typing import Any

import numpy as np


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        return int(np.flatnonzero(action_mask == 0)[0])
