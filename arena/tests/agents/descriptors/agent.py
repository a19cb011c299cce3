"""Looks for inherited descriptors beyond its pipes: a directory of the host's, opened outside
the sandbox's mounts, would be a way out of them (openat from it)."""

import os
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        leaked = []
        for name in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except FileNotFoundError:
                continue  # the listing's own descriptor, closed by now
            if not target.startswith("pipe:"):
                leaked.append(f"{name} -> {target}")
        if leaked:
            raise RuntimeError(f"inherited: {leaked}")
        return 0
