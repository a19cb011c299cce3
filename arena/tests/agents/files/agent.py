"""Does game_info["op"] on game_info["path"]: read a file, list a folder, write a file, or fill
one with game_info["mib"] MiB."""

import os
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.op, self.path = game_info["op"], game_info["path"]
        self.mib = int(game_info.get("mib", 0))

    def act(self, observation: Any, action_mask: Any) -> int:
        if self.op == "read":
            with open(self.path, "rb") as stream:
                stream.read()
        elif self.op == "list":
            os.listdir(self.path)
        elif self.op == "fill":
            with open(self.path, "wb") as stream:
                for _ in range(self.mib):
                    stream.write(b"x" * (1 << 20))
        else:
            with open(self.path, "w") as stream:
                stream.write("escaped")
        return 0
