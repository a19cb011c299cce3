"""Two screens used in turn, and the difference between them, for a machine's frames.

A machine writes each new frame into the screen the frame before is not in, so the previous
frame is kept without a copy; the codec and the palette both want the new frame XOR the one
before, and which of its 8-byte words are not 0, which are found once here.
"""

from __future__ import annotations

import numpy as np


class Screens:
    def __init__(self, height: int, width: int) -> None:
        self.pair = (np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint8))
        self._diff = np.zeros((height, width), np.uint8)
        self._diff_words = self._diff.reshape(-1).view(np.uint64)

    def other(self, frame: np.ndarray) -> np.ndarray:
        """The screen to write the next frame into: the one ``frame`` is not."""
        return self.pair[1] if frame is self.pair[0] else self.pair[0]

    def difference(self, frame: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``frame`` XOR ``previous`` (a buffer reused by the next call), and the indices of
        its 8-byte words that are not 0."""
        diff = np.bitwise_xor(frame, previous, out=self._diff)
        return diff, self._diff_words.nonzero()[0]  # (np.flatnonzero adds Python wrappers)
