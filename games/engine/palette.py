"""The colours of indexed (palette-index) frames, learned from the emulator as they appear.

Plain numpy and nothing first-party, so the one- and multi-seat machines share it without
importing anything else of the engine.
"""

from __future__ import annotations

import numpy as np


def changed_words(diff: np.ndarray) -> np.ndarray:
    """Indices of the 8-byte words of ``diff`` (a frame XOR the frame before) that are not 0.

    The codec's own (games/engine/codec.py), repeated here so that this module needs nothing
    else: a frame whose size is not a multiple of 8 is padded with zeros.
    """
    flat = diff.reshape(-1)
    if flat.size % 8:
        flat = np.concatenate([flat, np.zeros(8 - flat.size % 8, np.uint8)])
    return flat.view(np.uint64).nonzero()[0]


class Palette:
    """Index -> RGB for indexed frames, learned from the emulator as colours first appear.

    ALE games do not share one palette (PAL games and colour-averaged games differ), so each
    session asks its own emulator. Only pixels that changed since the last frame can bring a
    new colour, so a frame is checked through its difference from the last one (which the
    machine computes for the codec anyway), eight bytes at a time: a few microseconds a frame.
    """

    def __init__(self) -> None:
        self.rgb = np.zeros((256, 3), np.uint8)
        self._unknown = np.ones(256, bool)

    def learn(self, indices: np.ndarray, rgb: np.ndarray) -> list[int]:
        """Record every colour in this frame; return the indices that were new."""
        flat = indices.reshape(-1)
        seen, first = np.unique(flat, return_index=True)
        new = [int(i) for i in seen if self._unknown[i]]
        if new:
            colours = rgb.reshape(-1, 3)[first]
            self.rgb[seen] = colours
            self._unknown[seen] = False
        return new

    def has_unknown(
        self, indices: np.ndarray, diff: np.ndarray, changed: np.ndarray | None = None
    ) -> bool:
        """Whether this frame (``diff`` = it XOR the frame before) shows an unlearned colour.

        ``changed`` (the 8-byte words of ``diff`` that are not 0) is computed when not given.
        """
        if changed is None:
            changed = changed_words(diff)
        if changed.size == 0:
            return False
        return bool(
            self._unknown[indices.reshape(-1).view(np.uint64)[changed].view(np.uint8)].any()
        )

    def add(self, entries: list[list[int]]) -> None:
        """Learn colours another palette learned (``entries``' ``[index, r, g, b]`` rows)."""
        for index, *rgb in entries:
            self.rgb[index] = rgb
            self._unknown[index] = False

    def entries(self, indices: list[int] | None = None) -> list[list[int]]:
        known = np.flatnonzero(~self._unknown) if indices is None else indices
        return [[int(i), *(int(c) for c in self.rgb[i])] for i in known]
