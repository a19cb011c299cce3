"""Two-player board games as multi-seat machines: tic-tac-toe, connect four and quarto.

A ``BoardMachine`` has the shape of ``MultiAtariMachine`` (a joint action a step, one reward
per seat, ``freeze``/``thaw``), so a board game is played by the one match loop, its rooms
and seats, and recorded and replay-verified like two-player Atari. What differs:

- The games are turn-based: only the action of the seat to move (``to_move``) counts; the
  other seat's is ignored (it plays NOOP). Each game's actions are PettingZoo's (a cell, a
  column, or for quarto a cell to place on or a piece to give) plus one last NOOP, which is
  never a legal move.
- A move the mask refuses (a full column, a taken cell, NOOP, any number that is not an
  action) changes nothing and is recorded as refused (``info["illegal"]``): the same seat is
  still to move, and the match goes on. A wrong-length joint action is a caller's bug and
  raises ValueError.
- ``action_mask(seat)`` is 1 for the legal moves of that seat (all 0 when it is not its
  turn), ``observe(seat)`` the game's observation as PettingZoo gives it to that agent (for
  quarto, ``games/envs/quarto.py``'s vector, the same for both).
- Rewards are +1 for the winner and -1 for the loser on the move that wins, 0 otherwise (a
  draw too); the episode terminates when the game is over, or is truncated after
  ``max_steps`` steps (refused moves count: a program that only sends illegal moves cannot
  hold a match for ever).
- Frames are small RGB pictures drawn here (quarto's by its env), not PettingZoo's
  ``rgb_array`` renders (1000 x 1000 pixels of PNG-scaled images, a hundred times the
  bytes), with a strip along the top in the colour of the seat to move. ``regions`` says
  where in the frame each move is clicked, for the play page.
- The rules are deterministic: the seed changes nothing (it seeds the AI seats). So a game's
  whole state is its list of moves, which is what ``freeze`` keeps and ``thaw`` replays.

tic-tac-toe and connect four are PettingZoo's classic envs (``tictactoe_v3``,
``connect_four_v3``) stepped directly (their raw envs, with the mask checked here instead of
their illegal-move wrappers); quarto is ours, the Gymnasium env ``arcade/Quarto-v0``.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from .multiplayer import MultiOutcome, MultiSeatGame, multi_seat_game
from .palette import Palette
from .registry import BOARD_GAMES, register_all

PIXELS_RGB = "rgb"  # as machines.PIXELS_RGB, which this module must not import (a cycle)
Frame = npt.NDArray[np.uint8]

BACKGROUND = (24, 26, 38)
GRID = (120, 124, 140)
WIN = (250, 210, 60)
# Seat 0 and seat 1: their marks and discs, and the strip above the board on their turn.
SEAT_COLOURS = ((230, 57, 70), (60, 160, 230))
STRIP_HEIGHT = 8


class Rules(Protocol):
    """One game's rules at one point of play, as the machine steps them."""

    n_actions: int  # every action, the final NOOP included

    @property
    def to_move(self) -> int | None:
        """The seat to move, or None once the game is over."""

    @property
    def winner(self) -> int | None: ...

    def mask(self) -> npt.NDArray[np.int8]:
        """1 for each legal move of the seat to move (n_actions long)."""

    def play(self, action: int) -> list[float]:
        """Play a legal move; each seat's reward for it."""

    def observe(self, seat: int) -> np.ndarray: ...

    def clone(self) -> Rules:
        """A copy to try moves on."""

    def draw(self) -> Frame: ...


# --- PettingZoo's classic games ------------------------------------------------------------


class PettingZooRules:
    """Tic-tac-toe or connect four: PettingZoo's raw env, stepped only with legal moves."""

    def __init__(self, make: Callable[[], Any], draw: Callable[[PettingZooRules], Frame]) -> None:
        self.env = make()
        self.env.reset()
        self._draw = draw
        self.agents: list[str] = list(self.env.possible_agents)
        self.n_actions = int(self.env.action_space(self.agents[0]).n) + 1
        self._winner: int | None = None

    @property
    def over(self) -> bool:
        return any(self.env.terminations.values())

    @property
    def to_move(self) -> int | None:
        return None if self.over else self.agents.index(self.env.agent_selection)

    @property
    def winner(self) -> int | None:
        return self._winner

    def mask(self) -> npt.NDArray[np.int8]:
        mask = np.zeros(self.n_actions, np.int8)
        if not self.over:
            mask[:-1] = self.env.observe(self.env.agent_selection)["action_mask"]
        return mask

    def play(self, action: int) -> list[float]:
        self.env.step(action)
        rewards = [float(self.env.rewards[agent]) for agent in self.agents]
        if self.over and max(rewards) > 0:
            self._winner = rewards.index(max(rewards))
        return rewards

    def observe(self, seat: int) -> np.ndarray:
        return np.asarray(self.env.observe(self.agents[seat])["observation"])

    def clone(self) -> PettingZooRules:
        # Not copy.deepcopy: PettingZoo's envs are EzPickle, whose copies are new envs built
        # from the constructor's arguments, at the start of a game. The copy shares what a
        # step does not change and has its own of what it does.
        env = object.__new__(type(self.env))
        env.__dict__.update(self.env.__dict__)
        env.board = copy.deepcopy(self.env.board)
        for name in ("rewards", "_cumulative_rewards", "terminations", "truncations"):
            setattr(env, name, dict(getattr(self.env, name)))
        env.infos = {agent: dict(info) for agent, info in self.env.infos.items()}
        env._agent_selector = copy.copy(self.env._agent_selector)
        other = object.__new__(PettingZooRules)
        other.__dict__.update(self.__dict__)
        other.env = env
        return other

    def draw(self) -> Frame:
        return self._draw(self)

    @property
    def cells(self) -> list[int]:
        """The board, PettingZoo's way: 0 empty, 1 seat 0's, 2 seat 1's."""
        board = self.env.board
        return list(board.squares if hasattr(board, "squares") else board)


def _tictactoe() -> Any:
    from pettingzoo.classic.tictactoe.tictactoe import raw_env

    return raw_env(render_mode=None)


def _connect_four() -> Any:
    from pettingzoo.classic.connect_four.connect_four import raw_env

    return raw_env(render_mode=None)


def _canvas(width: int, height: int, to_move: int | None) -> Frame:
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = BACKGROUND
    if to_move is not None:
        frame[:STRIP_HEIGHT] = SEAT_COLOURS[to_move]
    return frame


def _disc(size: int, outer: float, inner: float = 0.0) -> npt.NDArray[np.bool_]:
    """A disc (or with ``inner``, a ring) of radii given as fractions of ``size``."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    distance = np.hypot(xx - size / 2, yy - size / 2)
    return (distance <= outer * size) & (distance >= inner * size)


def _cross(size: int, half_width: float) -> npt.NDArray[np.bool_]:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    margin = size * 0.2
    inside = (xx > margin) & (xx < size - margin) & (yy > margin) & (yy < size - margin)
    return inside & ((abs(xx - yy) <= half_width) | (abs(xx + yy - size) <= half_width))


# Tic-tac-toe: PettingZoo numbers the cells by column (cell = 3 * column + row), as its own
# rendering draws them; so does this.
TTT_CELL, TTT_X, TTT_Y = 48, 8, 16
TTT_WIDTH, TTT_HEIGHT = 3 * TTT_CELL + 16, 3 * TTT_CELL + 24
_TTT_MARKS = (_cross(TTT_CELL, 3.5), _disc(TTT_CELL, 0.32, 0.22))
TTT_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def ttt_box(cell: int) -> tuple[int, int, int, int]:
    column, row = divmod(cell, 3)
    return TTT_X + column * TTT_CELL, TTT_Y + row * TTT_CELL, TTT_CELL, TTT_CELL


def _draw_tictactoe(rules: PettingZooRules) -> Frame:
    frame = _canvas(TTT_WIDTH, TTT_HEIGHT, rules.to_move)
    cells = rules.cells
    line = next(
        (ln for ln in TTT_LINES if cells[ln[0]] and cells[ln[0]] == cells[ln[1]] == cells[ln[2]]),
        (),
    )
    for cell in line:
        left, top, size, _ = ttt_box(cell)
        frame[top : top + size, left : left + size] = WIN
    for i in (1, 2):  # the grid's inner lines
        at = i * TTT_CELL
        frame[TTT_Y : TTT_Y + 3 * TTT_CELL, TTT_X + at - 1 : TTT_X + at + 1] = GRID
        frame[TTT_Y + at - 1 : TTT_Y + at + 1, TTT_X : TTT_X + 3 * TTT_CELL] = GRID
    for cell, mark in enumerate(cells):
        if mark:
            left, top, size, _ = ttt_box(cell)
            frame[top : top + size, left : left + size][_TTT_MARKS[mark - 1]] = SEAT_COLOURS[
                mark - 1
            ]
    return frame


# Connect four: PettingZoo's board is 6 rows of 7, row 0 at the top (index = 7 * row + col).
C4_ROWS, C4_COLUMNS = 6, 7
C4_CELL, C4_X, C4_Y = 32, 8, 16
C4_WIDTH, C4_HEIGHT = C4_COLUMNS * C4_CELL + 16, C4_ROWS * C4_CELL + 24
C4_BOARD = (40, 70, 170)
_C4_DISC = _disc(C4_CELL, 0.4)
_C4_RING = _disc(C4_CELL, 0.47, 0.4)


def c4_box(column: int) -> tuple[int, int, int, int]:
    """A whole column: a click anywhere in it drops a disc there."""
    return C4_X + column * C4_CELL, C4_Y, C4_CELL, C4_ROWS * C4_CELL


def four_in_a_row(cells: Sequence[int], rows: int, columns: int) -> tuple[int, ...]:
    """The indices of a line of four of one seat's discs, or ()."""
    for row in range(rows):
        for column in range(columns):
            piece = cells[row * columns + column]
            if not piece:
                continue
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_r, end_c = row + 3 * dr, column + 3 * dc
                if not (0 <= end_r < rows and 0 <= end_c < columns):
                    continue
                line = tuple((row + k * dr) * columns + column + k * dc for k in range(4))
                if all(cells[i] == piece for i in line):
                    return line
    return ()


def _draw_connect_four(rules: PettingZooRules) -> Frame:
    frame = _canvas(C4_WIDTH, C4_HEIGHT, rules.to_move)
    frame[C4_Y : C4_Y + C4_ROWS * C4_CELL, C4_X : C4_X + C4_COLUMNS * C4_CELL] = C4_BOARD
    cells = rules.cells
    line = set(four_in_a_row(cells, C4_ROWS, C4_COLUMNS))
    for index, piece in enumerate(cells):
        row, column = divmod(index, C4_COLUMNS)
        top, left = C4_Y + row * C4_CELL, C4_X + column * C4_CELL
        square = frame[top : top + C4_CELL, left : left + C4_CELL]
        square[_C4_DISC] = SEAT_COLOURS[piece - 1] if piece else BACKGROUND
        if index in line:
            square[_C4_RING] = WIN
    return frame


# --- quarto ----------------------------------------------------------------------------------


class QuartoRules:
    """Quarto: our env (``arcade/Quarto-v0``, games/envs/quarto.py), made by its id so that
    the engine imports nothing of the project's."""

    def __init__(self, env: Any = None) -> None:
        if env is None:
            register_all()
            env = gym.make("arcade/Quarto-v0").unwrapped
            env.reset()
        self.env = env
        self.n_actions = int(env.action_space.n)

    @property
    def to_move(self) -> int | None:
        to_move: int | None = self.env.to_move
        return to_move

    @property
    def winner(self) -> int | None:
        winner: int | None = self.env.winner
        return winner

    def mask(self) -> npt.NDArray[np.int8]:
        mask: npt.NDArray[np.int8] = self.env.action_mask()
        return mask

    def play(self, action: int) -> list[float]:
        mover = self.env.to_move
        _, reward, _, _, _ = self.env.step(action)
        rewards = [0.0, 0.0]
        if reward > 0:
            rewards[mover], rewards[1 - mover] = 1.0, -1.0
        return rewards

    def observe(self, seat: int) -> np.ndarray:
        return np.asarray(self.env._observation())

    def clone(self) -> QuartoRules:
        return QuartoRules(self.env.copy())

    def draw(self) -> Frame:
        frame: Frame = self.env.render()
        return frame


# --- the games -------------------------------------------------------------------------------

Region = tuple[int, int, int, int, int]  # left, top, width, height (frame pixels), action


@dataclass(frozen=True)
class BoardGame:
    """One board game: its rules, its seats, and where each move is clicked in its frame."""

    name: str
    title: str
    make: Callable[[], Rules]
    action_meanings: tuple[str, ...]  # the last is NOOP
    roles: tuple[str, str]
    regions: tuple[Region, ...]
    seats: int = 2

    @property
    def n_actions(self) -> int:
        return len(self.action_meanings)

    @property
    def noop(self) -> int:
        return self.n_actions - 1


def _quarto() -> tuple[tuple[str, ...], tuple[Region, ...]]:
    """Quarto's action meanings and click regions, as its env gives them."""
    env = QuartoRules().env
    return tuple(env.get_action_meanings()), tuple(env.click_regions())


def _games() -> dict[str, BoardGame]:
    quarto_meanings, quarto_regions = _quarto()
    games = (
        BoardGame(
            name="tictactoe",
            title="Tic-tac-toe",
            make=lambda: PettingZooRules(_tictactoe, _draw_tictactoe),
            action_meanings=(*(f"CELL{i}" for i in range(9)), "NOOP"),
            roles=("crosses (red), who move first", "noughts (blue)"),
            regions=tuple((*ttt_box(cell), cell) for cell in range(9)),
        ),
        BoardGame(
            name="connect_four",
            title="Connect four",
            make=lambda: PettingZooRules(_connect_four, _draw_connect_four),
            action_meanings=(*(f"COLUMN{i}" for i in range(C4_COLUMNS)), "NOOP"),
            roles=("red, who moves first", "blue"),
            regions=tuple((*c4_box(column), column) for column in range(C4_COLUMNS)),
        ),
        BoardGame(
            name="quarto",
            title="Quarto",
            make=QuartoRules,
            action_meanings=quarto_meanings,
            roles=("the first player, who gives the first piece", "the second player"),
            regions=quarto_regions,
        ),
    )
    return {game.name: game for game in games}


_GAMES: dict[str, BoardGame] = {}


def is_board_game(name: str) -> bool:
    return name in BOARD_GAMES


def board_game(name: str) -> BoardGame:
    """The board game called ``name``; ValueError naming the known ones when there is none."""
    if not is_board_game(name):
        raise ValueError(f"no board game {name!r}; the known ones are {BOARD_GAMES}")
    if not _GAMES:
        _GAMES.update(_games())
    return _GAMES[name]


def seated_game(name: str) -> MultiSeatGame | BoardGame:
    """The multi-seat game called ``name`` ("multi/<name>"), board or Atari: its ``seats``,
    ``roles`` and ``action_meanings``."""
    return board_game(name) if is_board_game(name) else multi_seat_game(name)


# --- the machine -----------------------------------------------------------------------------


def _changed_words(diff: np.ndarray) -> np.ndarray:
    """Indices of the 8-byte words of ``diff`` that are not 0 (as ``codec.changed_words``)."""
    flat = diff.reshape(-1)
    if flat.size % 8:
        flat = np.concatenate([flat, np.zeros(8 - flat.size % 8, np.uint8)])
    return np.flatnonzero(flat.view(np.uint64))


class BoardMachine:
    """Steps one board game for its two seats; see the module's docstring."""

    pixel_format = PIXELS_RGB
    palette: Palette | None = None  # RGB frames: no palette

    def __init__(self, game: str, *, max_steps: int = 1000) -> None:
        self.game = board_game(game)
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a whole number, 1 or more, not {max_steps!r}")
        self.max_steps = max_steps
        self.seats = self.game.seats
        self.action_meanings = [list(self.game.action_meanings) for _ in range(self.seats)]
        self.rules: Rules = self.game.make()
        self.moves: list[int] = []  # the legal moves played, in order: the whole state
        self.steps = 0
        self.frame: np.ndarray = self.rules.draw()
        self.diff: np.ndarray | None = None
        self.changed: np.ndarray | None = None

    # --- what a seat sees --------------------------------------------------------------------

    @property
    def to_move(self) -> int | None:
        """The seat whose action the next step plays; None once the game is over."""
        return self.rules.to_move

    def action_mask(self, seat: int) -> npt.NDArray[np.int8]:
        """1 for each legal move of ``seat``: none when it is not its turn."""
        if seat != self.rules.to_move:
            return np.zeros(self.game.n_actions, np.int8)
        return self.rules.mask()

    def observe(self, seat: int) -> np.ndarray:
        return self.rules.observe(seat)

    # --- playing -------------------------------------------------------------------------

    def start(self, seed: int, state: bytes | None) -> list[int]:
        """A new game (the seed changes nothing: the rules have no chance in them), or the
        game ``state`` (``freeze``'s) goes on. No palette: the frames are RGB."""
        if state is not None:
            self.thaw(state)
            return []
        self._go_to([], 0)
        return []

    def _go_to(self, moves: list[int], steps: int) -> None:
        rules = self.game.make()
        for move in moves:
            if not rules.mask()[move]:
                raise ValueError(f"move {move} is not legal in {self.game.name} after {moves}")
            rules.play(move)
        self.rules = rules
        self.moves = list(moves)
        self.steps = steps
        self.frame = rules.draw()
        self.diff = self.changed = None

    def check(self, joint_actions: Sequence[int]) -> None:
        if len(joint_actions) != self.seats:
            raise ValueError(
                f"{self.game.name} takes one action per seat: {self.seats} actions, "
                f"not {len(joint_actions)}"
            )

    def refusal(self, seat: int, action: object) -> str | None:
        """Why ``seat`` may not play ``action`` now, in words for the player; None if it may."""
        to_move = self.rules.to_move
        if to_move is None:
            return "The game is over."
        if seat != to_move:
            return "It is not your turn."
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            return f"A move is an action number, not {action!r}."
        if not 0 <= action < self.game.n_actions or not self.rules.mask()[int(action)]:
            meaning = (
                self.game.action_meanings[int(action)]
                if 0 <= action < self.game.n_actions
                else str(action)
            )
            return f"{meaning} is not a legal move now: pick one the board allows."
        return None

    def step(self, joint_actions: Sequence[int]) -> MultiOutcome:
        previous = self.frame
        outcome = self.advance(joint_actions)
        if previous.shape == self.frame.shape:
            self.diff = np.bitwise_xor(self.frame, previous)
            self.changed = _changed_words(self.diff)
        return outcome

    def advance(self, joint_actions: Sequence[int]) -> MultiOutcome:
        """``step`` without the difference from the frame before (what replay steps)."""
        self.check(joint_actions)
        mover = self.rules.to_move
        rewards = [0.0] * self.seats
        info: dict[str, Any] = {"lives": [0] * self.seats}
        self.steps += 1
        if mover is None:
            # The match ends on the winning step; a step after it changes nothing.
            info.update(illegal=True, reason="The game is over.")
        else:
            action = joint_actions[mover]
            refused = self.refusal(mover, action)
            info.update(seat=mover, action=int(action) if refused is None else -1)
            if refused is not None:
                info.update(illegal=True, reason=refused)
            else:
                rewards = self.rules.play(int(action))
                self.moves.append(int(action))
                info["illegal"] = False
                self.frame = self.rules.draw()
        to_move = self.rules.to_move
        winner = self.rules.winner
        info.update(
            to_move=-1 if to_move is None else to_move,
            winner=-1 if winner is None else winner,
            moves=len(self.moves),  # the moves played, both seats' (the page counts them)
        )
        return MultiOutcome(
            rewards=rewards,
            terminated=to_move is None,
            truncated=to_move is not None and self.steps >= self.max_steps,
            lives=[0] * self.seats,
            info=info,
        )

    def new_colours(self) -> list[int]:
        return []  # RGB frames: no palette to learn

    def rgb(self) -> np.ndarray:
        return self.frame

    def ram(self) -> np.ndarray:
        raise ValueError(f"{self.game.name} is a board game: it has no RAM")

    def snapshot(self) -> BoardSnapshot:
        return BoardSnapshot(game=self.game.name, moves=tuple(self.moves), steps=self.steps)

    def restore(self, snapshot: BoardSnapshot) -> list[int]:
        if snapshot.game != self.game.name:
            raise ValueError(f"a state of {snapshot.game} cannot go on in {self.game.name}")
        self._go_to(list(snapshot.moves), snapshot.steps)
        return []

    def freeze(self) -> bytes:
        return pickle.dumps(self.snapshot())

    def thaw(self, frozen: bytes) -> None:
        snapshot = pickle.loads(frozen)
        if not isinstance(snapshot, BoardSnapshot):
            raise ValueError("not a board game's frozen state")
        self.restore(snapshot)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class BoardSnapshot:
    game: str
    moves: tuple[int, ...]
    steps: int


# --- an AI for every board game --------------------------------------------------------------


def legal_moves(rules: Rules) -> list[int]:
    return [int(a) for a in np.flatnonzero(rules.mask())]


def _after(rules: Rules, move: int) -> Rules:
    tried = rules.clone()
    tried.play(move)
    return tried


def _opponent_can_win(rules: Rules, seat: int) -> bool:
    """After ``seat``'s move: whether the opponent wins with their next move whatever
    ``seat`` does first (quarto's placing is followed by ``seat``'s giving)."""
    to_move = rules.to_move
    if to_move is None:
        return False
    if to_move == seat:  # still ours (quarto: give after placing): safe if some move is
        return all(_opponent_can_win(_after(rules, move), seat) for move in legal_moves(rules))
    return any(_after(rules, move).winner == to_move for move in legal_moves(rules))


def one_ply(rules: Rules, seat: int, rng: np.random.Generator) -> int:
    """Win if you can, block if you must: a move that wins now, else one after which the
    opponent cannot win at once, else any legal move; random among equals."""
    moves = legal_moves(rules)
    if not moves:
        raise ValueError("no legal move: the game is over or it is not this seat's turn")
    rng.shuffle(moves)
    for move in moves:
        if _after(rules, move).winner == seat:
            return move
    for move in moves:
        if not _opponent_can_win(_after(rules, move), seat):
            return move
    return moves[0]


# --- a match runner's view ---------------------------------------------------------------------


class TurnGame:
    """A board game as a turn-based match runner steps it, one move at a time by the seat to
    move (the arena's ``TurnGame`` shape: ``reset``, ``to_move``, ``observation``,
    ``action_mask``, ``step``, ``scores``), with PettingZoo's observations and masks (no
    NOOP: a runner's seat is never asked to pass). It steps a ``BoardMachine`` and keeps the joint
    actions it played, so a runner's match can be recorded and replayed like a room's
    (``multireplay.replay_multi(name, {}, seed, game.joint_actions)``)."""

    def __init__(self, name: str, *, max_steps: int = 1000) -> None:
        self.machine = BoardMachine(name, max_steps=max_steps)
        self.seed = 0
        self.joint_actions: list[list[int]] = []
        self.returns = [0.0] * self.machine.seats
        self.truncated = False
        self.last: MultiOutcome | None = None  # the last step's outcome

    def reset(self, seed: int) -> None:
        self.machine.start(seed, None)
        self.seed = seed
        self.joint_actions = []
        self.returns = [0.0] * self.machine.seats
        self.truncated = False
        self.last = None

    def to_move(self) -> int | None:
        """The seat to move; None once the game is over (or cut at ``max_steps``)."""
        return None if self.truncated else self.machine.to_move

    def observation(self, seat: int) -> np.ndarray:
        return self.machine.observe(seat)

    def action_mask(self, seat: int) -> npt.NDArray[np.int8]:
        """PettingZoo's mask (quarto: its env's actions but NOOP): the machine's without its
        NOOP, which is never legal, so that an agent trained on PettingZoo sees its own."""
        return self.machine.action_mask(seat)[:-1]

    def step(self, action: int) -> None:
        """The seat to move plays ``action`` (refused, changing nothing, if the mask refuses
        it: ``last.info["illegal"]`` says so, and the runner decides what it costs)."""
        mover = self.machine.to_move
        if mover is None or self.truncated:
            raise ValueError("the game is over: reset it to play again")
        joint = [self.machine.game.noop] * self.machine.seats
        joint[mover] = action
        outcome = self.last = self.machine.advance(joint)
        self.joint_actions.append(joint)
        self.returns = [total + r for total, r in zip(self.returns, outcome.rewards, strict=True)]
        self.truncated = outcome.truncated

    def scores(self) -> tuple[float, float]:
        """Each seat's score: 1 a win, -1 a loss, 0 a draw (or a game not over)."""
        return self.returns[0], self.returns[1]
