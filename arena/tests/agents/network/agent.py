"""Looks for a network: its interfaces in reset, a TCP connection in act."""

import socket
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.port = int(game_info["port"])
        with open("/proc/self/net/dev") as dev:
            interfaces = [line.split(":")[0].strip() for line in dev.readlines()[2:]]
        if interfaces != ["lo"]:
            raise RuntimeError(f"interfaces beyond a loopback: {interfaces}")

    def act(self, observation: Any, action_mask: Any) -> int:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2):
            return 0
