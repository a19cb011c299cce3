"""A random legal-move agent: the submission API's smallest example."""

from typing import Any

import numpy as np


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(game_info.get("seed"))

    def act(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(action_mask)))

    def close(self) -> None:
        pass
