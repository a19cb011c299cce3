"""Prints without end: a flood of log."""

from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        line = "spam " * 200
        while True:
            print(line)
