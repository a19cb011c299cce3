"""Burns CPU in act and never answers."""

from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        count = 0
        while True:
            count += 1
