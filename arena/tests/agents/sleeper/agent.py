"""Takes game_info["sleep"] seconds over every move."""

import time
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.sleep = float(game_info["sleep"])

    def act(self, observation: Any, action_mask: Any) -> int:
        time.sleep(self.sleep)
        return 0
