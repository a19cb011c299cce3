"""Allocates game_info["mib"] MiB: at once (a reservation), or touched page by page."""

from typing import Any

import numpy as np


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.mib = int(game_info["mib"])
        self.touch = bool(game_info.get("touch"))

    def act(self, observation: Any, action_mask: Any) -> int:
        if not self.touch:
            self.block = bytearray(self.mib << 20)
        else:
            self.blocks = [np.ones(16 << 20, np.uint8) for _ in range(self.mib // 16)]
        return 0
