"""Finds the protocol's channel among its pipes and writes its own bytes onto it."""

import os
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: Any, action_mask: Any) -> int:
        # fd 1 is the agent's log (the runner moved the channel); any other pipe but stdin is
        # the channel.
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if fd != 0 and os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                    os.write(fd, b"I am not JSON\n")
            except OSError:
                pass
        return 0
