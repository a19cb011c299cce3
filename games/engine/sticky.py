"""Sticky actions drawn by the arcade, not by ALE, so that they travel with a saved state.

ALE draws its sticky actions from its own RNG and repeats its last action, neither of which
its saved state holds; a machine that runs ALE with p = 0 and applies ``Repeats`` itself can be
checkpointed, verified while played and moved to another process (games/engine/machines.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Repeats:
    """Sticky actions as ALE applies them: each frame, with probability ``p``, the action of the
    frame before is applied again instead of the new one."""

    p: float
    rng: random.Random = field(default_factory=random.Random)
    held: int = 0  # the action index the last frame applied; NOOP after reset, as in ALE

    def start(self, seed: int) -> None:
        self.rng.seed(seed)
        self.held = 0

    def applied(self, action: int) -> int:
        """The action this frame applies."""
        if self.rng.random() >= self.p:
            self.held = action
        return self.held

    def state(self) -> bytes:
        """The last action and the RNG (Mersenne Twister: 624 words and a position), as bytes."""
        version, words, gauss = self.rng.getstate()
        assert version == 3 and gauss is None  # only random() is drawn
        return np.array([self.held, *words], np.uint32).tobytes()

    def set_state(self, state: bytes) -> None:
        values = np.frombuffer(state, np.uint32)
        if values.size != 626:
            raise ValueError("not a sticky-actions state")
        self.held = int(values[0])
        self.rng.setstate((3, tuple(values[1:].tolist()), None))
