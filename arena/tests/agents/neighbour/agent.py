"""Leaves a mark in /tmp, then looks for the other agent's mark and processes."""

import os
from typing import Any


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.seat = seat
        with open(f"/tmp/mark-{seat}", "w") as mark:
            mark.write(str(os.getpid()))

    def act(self, observation: Any, action_mask: Any) -> int:
        other = f"/tmp/mark-{1 - self.seat}"
        if os.path.exists(other):
            raise RuntimeError(f"reached the other agent's {other}")
        processes = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        if processes != [1]:  # the runner is its pid namespace's first and only process
            raise RuntimeError(f"sees processes {processes}")
        return int(action_mask.argmax())
