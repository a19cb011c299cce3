"""A random legal-move agent: the submission API's smallest example."""

from typing import Any

import numpy as np


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(game_info.get("seed"))
        with open("/tmp/scratch", "w") as scratch:  # /tmp is the one writable place
            scratch.write(str(seat))

    def act(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(action_mask)))

    def close(self) -> None:
        with open("/tmp/scratch") as scratch:
            scratch.read()
