"""Tower of Hanoi as a turn-based Gymnasium environment, played with four keys.

The player steers a cursor between the three pegs and picks up / drops disks, so every
keyboard press is one step:

    0 NOOP      nothing happens
    1 LEFT      cursor to the previous peg (wraps from peg 0 to peg 2)
    2 RIGHT     cursor to the next peg (wraps from peg 2 to peg 0)
    3 PICKDROP  empty hand: pick up the top disk of the cursor peg (nothing if it is empty);
                holding a disk: drop it on the cursor peg if that peg is empty or its top
                disk is larger, otherwise the drop is refused

Disks are numbered by size, 1 (smallest) to ``n_disks`` (largest). The observation is a flat
``int64`` vector of length ``n_disks + 2``:

    obs[i]           peg of disk i + 1: 0, 1 or 2, or 3 while it is held
    obs[n_disks]     cursor peg: 0, 1 or 2
    obs[n_disks + 1] held disk: 0 for none, else its size

Rewards: +1 for the drop that solves the puzzle (every disk on peg 2, nothing held),
-0.1 for a refused drop, 0 for everything else. A refused drop changes nothing and sets
``info["illegal"]``; picking from an empty peg is a harmless no-op, not an illegal move.
The solving step's info also says the fewest moves possible, ``info["best_moves"]``
(2^n - 1), so a page can tell the player how well they did.

A *move* is a disk dropped on a different peg from the one it was picked up from; putting a
disk back where it came from is free. ``info["moves"]`` counts moves, and ``max_moves`` caps
them: the episode is truncated when the cap is reached without solving. Solving on the last
allowed move terminates rather than truncates. Idle steps (NOOP, cursor moves) are not
capped here; wrap the env in ``TimeLimit`` (``max_episode_steps``) for that.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

NOOP, LEFT, RIGHT, PICKDROP = 0, 1, 2, 3
ACTION_MEANINGS = ["NOOP", "LEFT", "RIGHT", "PICKDROP"]

N_PEGS = 3
MIN_DISKS, MAX_DISKS = 3, 8
HELD = N_PEGS  # the "peg" a held disk is on, in the observation

REWARD_SOLVED = 1.0
REWARD_ILLEGAL = -0.1

# --- drawing -----------------------------------------------------------------------------
# Flat colours only, no antialiasing: frames are streamed as lossless deltas, and every pixel
# is one of PALETTE's colours so a server may also send them as indexed pixels.

WIDTH, HEIGHT = 240, 160
BACKGROUND = (24, 26, 38)
POLE = (120, 124, 140)
CURSOR = (255, 255, 255)
DISK_COLOURS = (  # by size, smallest first
    (230, 57, 70),
    (244, 140, 40),
    (250, 210, 60),
    (90, 190, 90),
    (60, 190, 200),
    (70, 110, 220),
    (150, 90, 210),
    (230, 110, 170),
)
PALETTE = (BACKGROUND, POLE, CURSOR, *DISK_COLOURS)

PEG_X = (40, 120, 200)  # peg centres
POLE_HALF_WIDTH = 2
POLE_TOP = 34
FLOOR_TOP, FLOOR_BOTTOM = 136, 142  # disks stand on FLOOR_TOP
FLOOR_LEFT, FLOOR_RIGHT = 2, 238
DISK_PITCH, DISK_HEIGHT = 10, 9  # a 1 px gap between stacked disks
HELD_TOP = 14  # a held disk floats above the cursor peg, clear of the pole
DISK_MIN_HALF, DISK_MAX_HALF = 7, 36  # largest disks on neighbouring pegs keep an 8 px gap
CURSOR_TOP, CURSOR_ROWS = 146, 10  # an upward triangle under the cursor peg


def _background() -> npt.NDArray[np.uint8]:
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    frame[FLOOR_TOP:FLOOR_BOTTOM, FLOOR_LEFT:FLOOR_RIGHT] = POLE
    for x in PEG_X:
        frame[POLE_TOP:FLOOR_TOP, x - POLE_HALF_WIDTH : x + POLE_HALF_WIDTH] = POLE
    frame.flags.writeable = False
    return frame


_BACKGROUND = _background()


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class TowerOfHanoiEnv(gym.Env[npt.NDArray[np.int64], np.int64]):
    """Move the tower from peg 0 to peg 2, one disk at a time, never a larger on a smaller."""

    # gym.Env declares metadata as an instance attribute, so it cannot be a ClassVar here.
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        n_disks: int = 4,
        render_mode: str | None = "rgb_array",
        max_moves: int | None = None,
    ) -> None:
        if not _is_int(n_disks) or not MIN_DISKS <= n_disks <= MAX_DISKS:
            raise ValueError(
                f"n_disks must be an int from {MIN_DISKS} to {MAX_DISKS}, got {n_disks!r}; "
                f"pick a tower size in that range."
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}."
            )
        if max_moves is not None and (not _is_int(max_moves) or max_moves < 1):
            raise ValueError(f"max_moves must be a positive int or None, got {max_moves!r}.")

        self.n_disks = int(n_disks)
        self.render_mode = render_mode
        self.max_moves = None if max_moves is None else int(max_moves)
        self.action_space = spaces.Discrete(len(ACTION_MEANINGS))
        high = np.array([HELD] * self.n_disks + [N_PEGS - 1, self.n_disks], dtype=np.int64)
        self.observation_space = spaces.Box(
            low=np.zeros_like(high), high=high, shape=high.shape, dtype=np.int64
        )

        # Disk half-widths by size (index 0 unused), evenly spaced between the extremes.
        span = (DISK_MAX_HALF - DISK_MIN_HALF) / (self.n_disks - 1)
        self._half_widths = [0, *(DISK_MIN_HALF + round(i * span) for i in range(self.n_disks))]

        self._pegs: list[list[int]] = []  # each peg's disks, bottom to top
        self._cursor = 0
        self._held = 0  # size of the held disk, 0 for none
        self._held_from = 0  # the peg the held disk was picked up from
        self._moves = 0
        self._reset_state()

    def get_action_meanings(self) -> list[str]:
        return list(ACTION_MEANINGS)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.int64], dict[str, Any]]:
        # The start is always the same; the seed only seeds self.np_random, per the API.
        super().reset(seed=seed)
        self._reset_state()
        return self._observation(), self._info(illegal=False)

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.int64], float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(
                f"Unknown action {action!r}; expected 0..3 ({', '.join(ACTION_MEANINGS)})."
            )
        action = int(action)
        reward = 0.0
        illegal = False
        terminated = False

        if action == LEFT:
            self._cursor = (self._cursor - 1) % N_PEGS
        elif action == RIGHT:
            self._cursor = (self._cursor + 1) % N_PEGS
        elif action == PICKDROP:
            peg = self._pegs[self._cursor]
            if not self._held:
                if peg:
                    self._held = peg.pop()
                    self._held_from = self._cursor
            elif peg and peg[-1] < self._held:
                illegal = True
                reward = REWARD_ILLEGAL
            else:
                peg.append(self._held)
                if self._cursor != self._held_from:
                    self._moves += 1
                self._held = 0
                if self._solved():
                    terminated = True
                    reward = REWARD_SOLVED

        truncated = not terminated and self.max_moves is not None and self._moves >= self.max_moves
        info = self._info(illegal=illegal)
        if terminated:
            info["best_moves"] = 2**self.n_disks - 1
        return self._observation(), reward, terminated, truncated, info

    def render(self) -> npt.NDArray[np.uint8] | None:
        if self.render_mode is None:
            return None
        frame = _BACKGROUND.copy()
        for peg, disks in zip(PEG_X, self._pegs, strict=True):
            for level, size in enumerate(disks):
                bottom = FLOOR_TOP - level * DISK_PITCH
                self._draw_disk(frame, size, peg, bottom - DISK_HEIGHT)
        cursor_x = PEG_X[self._cursor]
        if self._held:
            self._draw_disk(frame, self._held, cursor_x, HELD_TOP)
        for row in range(CURSOR_ROWS):
            frame[CURSOR_TOP + row, cursor_x - row - 1 : cursor_x + row + 1] = CURSOR
        return frame

    def _draw_disk(self, frame: npt.NDArray[np.uint8], size: int, x: int, top: int) -> None:
        half = self._half_widths[size]
        frame[top : top + DISK_HEIGHT, x - half : x + half] = DISK_COLOURS[size - 1]

    def _reset_state(self) -> None:
        self._pegs = [list(range(self.n_disks, 0, -1)), [], []]
        self._cursor = 0
        self._held = 0
        self._held_from = 0
        self._moves = 0

    def _solved(self) -> bool:
        return not self._held and len(self._pegs[N_PEGS - 1]) == self.n_disks

    def _observation(self) -> npt.NDArray[np.int64]:
        obs = np.empty(self.n_disks + 2, dtype=np.int64)
        for peg, disks in enumerate(self._pegs):
            for size in disks:
                obs[size - 1] = peg
        if self._held:
            obs[self._held - 1] = HELD
        obs[self.n_disks] = self._cursor
        obs[self.n_disks + 1] = self._held
        return obs

    def _info(self, *, illegal: bool) -> dict[str, Any]:
        return {"moves": self._moves, "illegal": illegal}
