"""Quarto as a turn-based Gymnasium environment for two players who take turns in one env.

Sixteen pieces, each different, each with four attributes that are either one way or the
other: tall or short, dark or light, square or round, hollow or solid. A piece is numbered
0..15 by its attributes' bits:

    bit 0 (1)  tall       (else short)
    bit 1 (2)  dark       (else light)
    bit 2 (4)  square     (else round)
    bit 3 (8)  hollow     (else solid)

The board has 16 cells, numbered row by row from the top left (cell = 4 * row + column).
Each turn has two parts. The player to move places the piece they were given on an empty
cell; then, unless the game is over, they choose one of the pieces not yet played and give
it to the opponent, whose turn it is then. The game opens with player 0 choosing the first
piece for player 1 (there is nothing to place yet). Whoever *places* the fourth piece of a
row, a column or either long diagonal whose four pieces share at least one attribute (all
tall, or all dark, or all hollow...) wins. When the sixteenth piece is placed without that,
the game is a draw.

Actions (``Discrete(33)``):

    0..15   PLACE on cell a (the piece in hand)
    16..31  GIVE piece a - 16 to the opponent
    32      NOOP: never a legal move; what a seat that is not to move plays

``action_mask()`` (also ``info["action_mask"]``) is 1 for exactly the legal moves of the
player to move: empty cells while placing, unplayed pieces while giving. A move the mask
refuses changes nothing and sets ``info["illegal"]`` (the same player is still to move); an
action outside 0..32 raises ValueError.

The observation is a flat ``int64`` vector of length 19:

    obs[0:16]  the piece on each cell, or -1 for an empty one
    obs[16]    the piece in hand (given to the player to move, to be placed), or -1
    obs[17]    the phase: 0 to place, 1 to give
    obs[18]    the player to move, 0 or 1 (-1 once the game is over)

Rewards are the mover's, on the move that ends the game: +1 for the winning placement, 0 for
every other move (a draw included). ``info["winner"]`` is 0 or 1 once someone has won,
-1 otherwise; ``info["line"]`` the four cells of the winning line.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

N_CELLS = N_PIECES = 16
GIVE = N_CELLS  # actions GIVE + p give piece p
NOOP = GIVE + N_PIECES
N_ACTIONS = NOOP + 1
PLACE_PHASE, GIVE_PHASE = 0, 1
EMPTY = -1

TALL, DARK, SQUARE, HOLLOW = 1, 2, 4, 8
ATTRIBUTES = {"tall": TALL, "dark": DARK, "square": SQUARE, "hollow": HOLLOW}

# Every line that wins: the rows, the columns and the two long diagonals.
LINES: tuple[tuple[int, ...], ...] = (
    *(tuple(4 * r + c for c in range(4)) for r in range(4)),
    *(tuple(4 * r + c for r in range(4)) for c in range(4)),
    (0, 5, 10, 15),
    (3, 6, 9, 12),
)

REWARD_WIN = 1.0


def shared(pieces: list[int]) -> int:
    """The attributes (as bits) that all of ``pieces`` have one way or all the other way."""
    same_set = N_PIECES - 1
    same_clear = N_PIECES - 1
    for piece in pieces:
        same_set &= piece
        same_clear &= ~piece
    return same_set | (same_clear & (N_PIECES - 1))


def describe(piece: int) -> str:
    """A piece in words: "tall dark square hollow"."""
    return " ".join(
        (
            "tall" if piece & TALL else "short",
            "dark" if piece & DARK else "light",
            "square" if piece & SQUARE else "round",
            "hollow" if piece & HOLLOW else "solid",
        )
    )


# --- drawing -----------------------------------------------------------------------------
# Flat colours only, as hanoi's: frames travel as lossless deltas.

WIDTH, HEIGHT = 320, 208
BACKGROUND = (24, 26, 38)
BOARD = (52, 56, 76)
CELL = (72, 78, 104)
LIGHT = (240, 214, 160)
DARK_WOOD = (150, 84, 40)
WIN = (250, 210, 60)
SEAT_COLOURS = ((230, 57, 70), (60, 160, 230))  # the strip above the board: who is to move
BOARD_X, BOARD_Y, BOARD_CELL = 8, 20, 44  # the 4x4 board, left
STOCK_X, STOCK_Y, STOCK_CELL = 200, 20, 28  # the pieces not yet played, right, 4x4
HAND_X, HAND_Y, HAND_SIZE = 228, 140, 56  # the piece in hand, under them
STRIP_HEIGHT = 8


def cell_box(cell: int) -> tuple[int, int, int]:
    """Left, top and size of a board cell in the frame (where a click places)."""
    row, col = divmod(cell, 4)
    return BOARD_X + col * BOARD_CELL, BOARD_Y + row * BOARD_CELL, BOARD_CELL


def stock_box(piece: int) -> tuple[int, int, int]:
    """Left, top and size of a piece's place in the stock (where a click gives it)."""
    row, col = divmod(piece, 4)
    return STOCK_X + col * STOCK_CELL, STOCK_Y + row * STOCK_CELL, STOCK_CELL


def _shape_masks(size: int) -> dict[tuple[bool, bool, bool], npt.NDArray[np.bool_]]:
    """The pixels of a piece in a ``size`` square, by (tall, square, hollow); solid parts only.

    Tall pieces fill most of their square, short ones half; hollow ones have a hole in the
    middle, a third of their width."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    centre = size / 2
    masks = {}
    for tall in (False, True):
        half = size * (0.42 if tall else 0.26)
        for square in (False, True):
            if square:
                body = (abs(xx - centre) <= half) & (abs(yy - centre) <= half)
            else:
                body = (xx - centre) ** 2 + (yy - centre) ** 2 <= half**2
            for hollow in (False, True):
                hole = (xx - centre) ** 2 + (yy - centre) ** 2 <= (half * 0.45) ** 2
                masks[tall, square, hollow] = body & ~hole if hollow else body
    return masks


_MASKS = {size: _shape_masks(size) for size in (BOARD_CELL, STOCK_CELL, HAND_SIZE)}


def draw_piece(frame: npt.NDArray[np.uint8], piece: int, left: int, top: int, size: int) -> None:
    mask = _MASKS[size][bool(piece & TALL), bool(piece & SQUARE), bool(piece & HOLLOW)]
    colour = DARK_WOOD if piece & DARK else LIGHT
    frame[top : top + size, left : left + size][mask] = colour


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class QuartoEnv(gym.Env[npt.NDArray[np.int64], np.int64]):
    """Two players, one env: each ``step`` is the move of the player to move (``to_move``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = "rgb_array") -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}."
            )
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Box(
            low=np.array([EMPTY] * 17 + [0, EMPTY], dtype=np.int64),
            high=np.array([N_PIECES - 1] * 17 + [1, 1], dtype=np.int64),
            dtype=np.int64,
        )
        self.board = [EMPTY] * N_CELLS
        self.hand = EMPTY
        self.phase = GIVE_PHASE
        self.to_move: int | None = 0  # None once the game is over
        self.winner: int | None = None
        self.line: tuple[int, ...] = ()
        self._reset_state()

    def get_action_meanings(self) -> list[str]:
        return action_meanings()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.int64], dict[str, Any]]:
        # The start is always the same; the seed only seeds self.np_random, per the API.
        super().reset(seed=seed)
        self._reset_state()
        return self._observation(), self._info(illegal=False)

    def _reset_state(self) -> None:
        self.board = [EMPTY] * N_CELLS
        self.hand = EMPTY
        self.phase = GIVE_PHASE  # player 0 opens by choosing player 1's first piece
        self.to_move = 0
        self.winner = None
        self.line = ()

    def copy(self) -> QuartoEnv:
        """This game at this point, to try moves on (a search): a shallow copy with a board
        of its own (``line`` is a tuple, every other field a number)."""
        other = copy.copy(self)
        other.board = list(self.board)
        return other

    def click_regions(self) -> list[tuple[int, int, int, int, int]]:
        """Where each move is clicked in a frame: left, top, width, height and the action
        (a board cell places there, a piece in the stock gives it)."""
        cells = [(*cell_box(cell), BOARD_CELL, cell) for cell in range(N_CELLS)]
        stock = [(*stock_box(piece), STOCK_CELL, GIVE + piece) for piece in range(N_PIECES)]
        return cells + stock

    @property
    def unplayed(self) -> list[int]:
        """The pieces neither on the board nor in hand, which may be given."""
        used = {piece for piece in self.board if piece != EMPTY} | {self.hand}
        return [piece for piece in range(N_PIECES) if piece not in used]

    def action_mask(self) -> npt.NDArray[np.int8]:
        """1 for each legal move of the player to move; all 0 once the game is over."""
        mask = np.zeros(N_ACTIONS, np.int8)
        if self.to_move is None:
            return mask
        if self.phase == PLACE_PHASE:
            for cell, piece in enumerate(self.board):
                if piece == EMPTY:
                    mask[cell] = 1
        else:
            for piece in self.unplayed:
                mask[GIVE + piece] = 1
        return mask

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.int64], float, bool, bool, dict[str, Any]]:
        if not _is_int(action) or not 0 <= int(action) < N_ACTIONS:
            raise ValueError(f"Unknown action {action!r}; expected 0..{N_ACTIONS - 1}.")
        action = int(action)
        if self.to_move is None:
            raise RuntimeError("The game is over; call reset() to play again.")
        if not self.action_mask()[action]:
            return self._observation(), 0.0, False, False, self._info(illegal=True)
        reward = 0.0
        terminated = False
        mover = self.to_move
        if self.phase == PLACE_PHASE:
            self.board[action] = self.hand
            self.hand = EMPTY
            won = self._won_line(action)
            if won:
                self.winner, self.line = mover, won
                self.to_move = None
                reward, terminated = REWARD_WIN, True
            elif EMPTY not in self.board:
                self.to_move = None  # a draw: every piece is on the board
                terminated = True
            else:
                self.phase = GIVE_PHASE
        else:
            self.hand = action - GIVE
            self.phase = PLACE_PHASE
            self.to_move = 1 - mover
        return self._observation(), reward, terminated, False, self._info(illegal=False)

    def _won_line(self, cell: int) -> tuple[int, ...]:
        """A full line through ``cell`` whose pieces share an attribute, or ()."""
        for line in LINES:
            if cell not in line:
                continue
            pieces = [self.board[c] for c in line]
            if EMPTY not in pieces and shared(pieces):
                return line
        return ()

    def _observation(self) -> npt.NDArray[np.int64]:
        to_move = EMPTY if self.to_move is None else self.to_move
        return np.array([*self.board, self.hand, self.phase, to_move], dtype=np.int64)

    def _info(self, *, illegal: bool) -> dict[str, Any]:
        return {
            "illegal": illegal,
            "to_move": EMPTY if self.to_move is None else self.to_move,
            "winner": EMPTY if self.winner is None else self.winner,
            "line": list(self.line),
            "action_mask": self.action_mask(),
        }

    def render(self) -> npt.NDArray[np.uint8] | None:
        if self.render_mode is None:
            return None
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = BACKGROUND
        if self.to_move is not None:
            frame[:STRIP_HEIGHT] = SEAT_COLOURS[self.to_move]
        side = 4 * BOARD_CELL
        frame[BOARD_Y - 4 : BOARD_Y + side + 4, BOARD_X - 4 : BOARD_X + side + 4] = BOARD
        for cell, piece in enumerate(self.board):
            left, top, size = cell_box(cell)
            colour = WIN if cell in self.line else CELL
            frame[top + 2 : top + size - 2, left + 2 : left + size - 2] = colour
            if piece != EMPTY:
                draw_piece(frame, piece, left, top, size)
        played = set(self.board) | {self.hand}
        for piece in range(N_PIECES):
            if piece not in played:
                draw_piece(frame, piece, *stock_box(piece))
        frame[HAND_Y - 2 : HAND_Y + HAND_SIZE + 2, HAND_X - 2 : HAND_X + HAND_SIZE + 2] = BOARD
        if self.hand != EMPTY:
            draw_piece(frame, self.hand, HAND_X, HAND_Y, HAND_SIZE)
        return frame


def action_meanings() -> list[str]:
    return [
        *(f"PLACE{cell}" for cell in range(N_CELLS)),
        *(f"GIVE{piece}" for piece in range(N_PIECES)),
        "NOOP",
    ]
