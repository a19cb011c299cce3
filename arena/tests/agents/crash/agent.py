"""Raises in act: a crash, reported with its traceback."""

from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        raise ValueError("boom: the agent's own bug")
