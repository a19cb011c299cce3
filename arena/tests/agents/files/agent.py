"""Does game_info["op"] on game_info["path"]: read a file, list a folder, or write a file."""

import os
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.op, self.path = game_info["op"], game_info["path"]

    def act(self, observation: Any, action_mask: Any) -> int:
        if self.op == "read":
            with open(self.path, "rb") as stream:
                stream.read()
        elif self.op == "list":
            os.listdir(self.path)
        else:
            with open(self.path, "w") as stream:
                stream.write("escaped")
        return 0
