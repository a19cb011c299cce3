"""The default catalogue that `make run` and `manage.py load_catalogue` install.

Each entry is a ``Game``'s fields; a multi-seat game's also lists its built-in AI players
("policies") and its seats ("seats"), which ``services.catalogue_game_create`` installs with it.
"""

from __future__ import annotations

from typing import Any

from .engine.boards import board_game
from .engine.keymap import ATARI_KEYS, atari_key_map
from .engine.multiplayer import ROLES, multi_seat_game

ATARI_KWARGS: dict[str, Any] = {
    "frameskip": 1,
    "repeat_action_probability": 0.0,
    "full_action_space": False,
}

JOYSTICK = [
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
]  # fmt: skip

# The actions of each game's minimal set, as ale-py names them (checked against ale-py by
# games/tests/test_catalogue.py): what the key maps below are written against.
MEANINGS: dict[str, list[str]] = {
    "Pong": ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"],
    "Breakout": ["NOOP", "FIRE", "RIGHT", "LEFT"],
    "SpaceInvaders": ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"],
    "MsPacman": [
        "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    ],
    "MontezumaRevenge": JOYSTICK,
    "Seaquest": JOYSTICK,
    "Qbert": ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN"],
    "Freeway": ["NOOP", "UP", "DOWN"],
    "Enduro": [
        "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT", "RIGHTFIRE", "LEFTFIRE",
    ],
}  # fmt: skip

DPAD = ["UP", "LEFT", "RIGHT", "DOWN"]


def _keys(
    env: str,
    labels: dict[str, str],
    touch: list[str],
    *,
    keys: dict[str, str] | None = None,
    combos: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A key map derived from the game's actions (as an empty one would be), with what each
    meaning does in this game; ``keys`` and ``combos`` replace the derived ones where the
    joystick's direction is not the key a person reaches for."""
    derived = atari_key_map(MEANINGS[env])
    return {
        "keys": keys if keys is not None else derived["keys"],
        "combos": combos if combos is not None else derived["combos"],
        "labels": labels,
        "touch": touch,
    }


def _atari(
    slug: str,
    title: str,
    env: str,
    description: str,
    instructions: str,
    key_map: dict[str, Any],
    **more: Any,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "env_id": f"ALE/{env}-v5",
        "env_kwargs": dict(ATARI_KWARGS),
        "fps": 60,
        "turn_based": False,
        "short_description": description,
        "instructions": instructions,
        "key_map": key_map,
        **more,
    }


DEFAULT_GAMES: list[dict[str, Any]] = [
    _atari(
        "pong",
        "Pong",
        "Pong",
        "Table tennis against the computer.",
        "You are the green paddle on the right. The ball is served for you. First to 21 wins.",
        # Pong's paddle is turned by a knob; on the joystick's actions RIGHT moves it up and
        # LEFT down. People reach for Up and Down, as the manual's paddle goes.
        _keys(
            "Pong",
            {"UP": "paddle up", "DOWN": "paddle down"},
            ["UP", "DOWN"],
            keys={"ArrowUp": "UP", "KeyW": "UP", "ArrowDown": "DOWN", "KeyS": "DOWN"},
            combos={"": 0, "UP": 2, "DOWN": 3},
        ),
        two_sided_score=True,
    ),
    _atari(
        "breakout",
        "Breakout",
        "Breakout",
        "Knock out the wall, brick by brick.",
        "Serve the ball, then keep it in play with the paddle.",
        _keys(
            "Breakout",
            {"LEFT": "paddle left", "RIGHT": "paddle right", "FIRE": "serve the ball"},
            ["LEFT", "FIRE", "RIGHT"],
        ),
    ),
    _atari(
        "space-invaders",
        "Space Invaders",
        "SpaceInvaders",
        "Hold off the invasion.",
        "Move left and right and shoot the invaders before they land.",
        _keys(
            "SpaceInvaders",
            {"LEFT": "move left", "RIGHT": "move right", "FIRE": "shoot"},
            ["LEFT", "FIRE", "RIGHT"],
        ),
    ),
    _atari(
        "ms-pacman",
        "Ms. Pac-Man",
        "MsPacman",
        "Eat the dots, dodge the ghosts.",
        "Clear the maze of dots. Power pills let you eat the ghosts for a while.",
        _keys(
            "MsPacman",
            {"UP": "go up", "DOWN": "go down", "LEFT": "go left", "RIGHT": "go right"},
            DPAD,
        ),
    ),
    _atari(
        "montezuma",
        "Montezuma's Revenge",
        "MontezumaRevenge",
        "Explore the pyramid: the classic hard-exploration game.",
        "Climb, jump and collect keys to open doors. Avoid skulls and long falls.",
        _keys(
            "MontezumaRevenge",
            {
                "UP": "climb up",
                "DOWN": "climb down",
                "LEFT": "walk left",
                "RIGHT": "walk right",
                "FIRE": "jump",
            },
            [*DPAD, "FIRE"],
        ),
    ),
    _atari(
        "seaquest",
        "Seaquest",
        "Seaquest",
        "Rescue divers under the sea.",
        "Shoot sharks and subs, collect six divers, and surface before your oxygen runs out.",
        _keys(
            "Seaquest",
            {
                "UP": "swim up",
                "DOWN": "dive",
                "LEFT": "swim left",
                "RIGHT": "swim right",
                "FIRE": "fire a torpedo",
            },
            [*DPAD, "FIRE"],
        ),
    ),
    _atari(
        "qbert",
        "Q*bert",
        "Qbert",
        "Change the colour of every cube.",
        "Hop diagonally onto each cube to change its colour; avoid the enemies.",
        # Q*bert's joystick is turned by 45 degrees: each direction is one diagonal hop.
        # Its fire button does nothing, so no key plays it.
        _keys(
            "Qbert",
            {
                "UP": "hop up and right",
                "RIGHT": "hop down and right",
                "LEFT": "hop up and left",
                "DOWN": "hop down and left",
            },
            DPAD,
            keys={code: sym for code, sym in ATARI_KEYS.items() if sym != "FIRE"},
        ),
    ),
    _atari(
        "freeway",
        "Freeway",
        "Freeway",
        "Help the chicken cross the road.",
        "Walk the chicken across ten lanes of traffic as many times as you can.",
        _keys("Freeway", {"UP": "walk up", "DOWN": "step back"}, ["UP", "DOWN"]),
    ),
    _atari(
        "enduro",
        "Enduro",
        "Enduro",
        "A day-long endurance race.",
        "Accelerate, and steer left and right to pass cars.",
        # The fire button is the accelerator: Up is where a driver's finger goes.
        _keys(
            "Enduro",
            {
                "FIRE": "accelerate",
                "DOWN": "brake",
                "LEFT": "steer left",
                "RIGHT": "steer right",
            },
            ["LEFT", "DOWN", "RIGHT", "FIRE"],
            keys={
                "ArrowUp": "FIRE",
                "KeyW": "FIRE",
                "Space": "FIRE",
                "ArrowDown": "DOWN",
                "KeyS": "DOWN",
                "ArrowLeft": "LEFT",
                "KeyA": "LEFT",
                "ArrowRight": "RIGHT",
                "KeyD": "RIGHT",
            },
        ),
    ),
    {
        "slug": "tower-of-hanoi",
        "title": "Tower of Hanoi",
        "env_id": "arcade/TowerOfHanoi-v0",
        "env_kwargs": {"n_disks": 4},
        "fps": 4,
        "turn_based": True,
        "pauses_when_hidden": False,
        "short_description": "Move the tower, one disk at a time.",
        "instructions": (
            "Move all disks to the rightmost peg. You may never put a larger disk "
            "on a smaller one. Solve it in as few moves as you can."
        ),
        "key_map": {
            "keys": {
                "ArrowLeft": "LEFT",
                "ArrowRight": "RIGHT",
                "Space": "PICKDROP",
                "Enter": "PICKDROP",
                "ArrowDown": "PICKDROP",
            },
            "combos": {"": 0, "LEFT": 1, "RIGHT": 2, "PICKDROP": 3},
            "labels": {
                "LEFT": "cursor to the peg on the left",
                "RIGHT": "cursor to the peg on the right",
                "PICKDROP": "pick up or drop a disk",
            },
            "touch": ["LEFT", "PICKDROP", "RIGHT"],
        },
    },
]


# --- multi-seat games ------------------------------------------------------------------------
# Each plays one "multi/<name>" machine (games/engine/multiplayer.py) with a seat per player.
# An entry's "policies" are the built-in AI players installed with it (by name); its "seats"
# say who each player is, what their person is told, and who fills the seat ("policy" names
# one of the entry's policies). A seat's key map left empty is the game's: every person plays
# in a browser of their own, so the seats of a game press the same keys.

# Two-player Pong waits for the player who received the ball to serve (FIRE); the paddles
# move as in one-player Pong, RIGHT up and LEFT down, on either side.
PONG_2P_KEYS: dict[str, Any] = {
    "keys": {
        "ArrowUp": "UP",
        "KeyW": "UP",
        "ArrowDown": "DOWN",
        "KeyS": "DOWN",
        "Space": "FIRE",
    },
    "combos": {"": 0, "FIRE": 1, "UP": 2, "DOWN": 3, "FIRE+UP": 4, "DOWN+FIRE": 5},
    "labels": {"UP": "paddle up", "DOWN": "paddle down", "FIRE": "serve"},
    "touch": ["UP", "FIRE", "DOWN"],
}


def _joystick(game: str, labels: dict[str, str], touch: list[str]) -> dict[str, Any]:
    """The key map derived from a multi-seat game's action set, with what each key does."""
    return {
        **atari_key_map(multi_seat_game(game).action_meanings),
        "labels": labels,
        "touch": touch,
    }


def _seat(
    index: int,
    game: str,
    instructions: str,
    *,
    fill: str = "human",
    policy: str | None = None,
    human_timeout: int = 30,
) -> dict[str, Any]:
    """A seat of ``game``, its role as the engine names it (``multiplayer.ROLES``)."""
    return {
        "index": index,
        "role": ROLES[game][index],
        "instructions": instructions,
        "key_map": {},
        "fill": fill,
        "policy": policy,
        "human_timeout": human_timeout,
    }


def _multi(
    slug: str,
    title: str,
    game: str,
    description: str,
    instructions: str,
    key_map: dict[str, Any],
    *,
    seats: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    on_leave: str,
    **more: Any,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "env_id": f"multi/{game}",
        "env_kwargs": dict(ATARI_KWARGS),
        "fps": 60,
        "turn_based": False,
        "short_description": description,
        "instructions": instructions,
        "key_map": key_map,
        "on_leave": on_leave,
        "seats": seats,
        "policies": policies,
        **more,
    }


PONG_TRACKER = {"name": "Pong tracker", "kind": "pong-tracker"}
RANDOM = {"name": "Random", "kind": "random"}
GREEN_PONG = "You are the green paddle, on the right. Return the ball past the orange paddle."
ORANGE_PONG = "You are the orange paddle, on the left. Return the ball past the green paddle."
SERVE = " When the ball comes back to you after a point, serve it within two seconds."
# "A person, else the tracker" for a second player: long enough to share the link.
WAIT = 30

DEFAULT_GAMES += [
    _multi(
        "pong-vs-ai",
        "Pong against the tracker",
        "pong",
        "Two-player Pong against an AI that follows the ball.",
        "First to 21 wins. Your opponent is the Pong tracker, a simple AI that steers its "
        "paddle after the ball.",
        PONG_2P_KEYS,
        seats=[
            _seat(0, "pong", GREEN_PONG + SERVE),
            _seat(1, "pong", "", fill="policy", policy="Pong tracker"),
        ],
        policies=[PONG_TRACKER],
        # One person: when they go, there is nobody left to play for.
        on_leave="abandon",
        two_sided_score=True,
    ),
    _multi(
        "pong-2p",
        "Pong for two",
        "pong",
        "Table tennis, two people on two screens.",
        "First to 21 wins. If nobody takes the second paddle within half a minute, the Pong "
        "tracker, a simple AI, plays it; it also takes over the paddle of a player who leaves.",
        PONG_2P_KEYS,
        seats=[
            _seat(0, "pong", GREEN_PONG + SERVE, policy="Pong tracker"),
            _seat(
                1,
                "pong",
                ORANGE_PONG + SERVE,
                fill="human_or_policy",
                policy="Pong tracker",
                human_timeout=WAIT,
            ),
        ],
        policies=[PONG_TRACKER],
        on_leave="ai",
        two_sided_score=True,
    ),
    _multi(
        "boxing-2p",
        "Boxing for two",
        "boxing",
        "Two boxers, two people, two minutes.",
        "Land more punches than your opponent in two minutes, or a hundred punches first for "
        "a knock-out. A sparring partner that moves at random steps in if nobody comes.",
        _joystick(
            "boxing",
            {
                "UP": "move up",
                "DOWN": "move down",
                "LEFT": "move left",
                "RIGHT": "move right",
                "FIRE": "punch",
            },
            [*DPAD, "FIRE"],
        ),
        seats=[
            _seat(0, "boxing", "You are the white boxer.", policy="Random"),
            _seat(
                1,
                "boxing",
                "You are the black boxer.",
                fill="human_or_policy",
                policy="Random",
                human_timeout=60,
            ),
        ],
        policies=[RANDOM],
        on_leave="ai",
        two_sided_score=True,
    ),
    _multi(
        "tennis-2p",
        "Tennis for two",
        "tennis",
        "A set of tennis, two people on two screens.",
        "Your player swings by itself when the ball comes near: run to the ball. The players "
        "change ends after each odd game. Win six games, by two, to win the set.",
        _joystick(
            "tennis",
            {
                "UP": "run up the court",
                "DOWN": "run down the court",
                "LEFT": "run left",
                "RIGHT": "run right",
                "FIRE": "serve",
            },
            [*DPAD, "FIRE"],
        ),
        seats=[
            _seat(0, "tennis", "You are the pink player."),
            _seat(1, "tennis", "You are the blue player."),
        ],
        policies=[],
        # No AI plays tennis yet: a game left by one player ends once they cannot come back.
        on_leave="abandon",
        two_sided_score=True,
    ),
    _multi(
        "space-invaders-2p",
        "Space Invaders for two",
        "space_invaders",
        "Hold off the invasion together.",
        "Two cannons against one invasion: shoot the invaders before they land. If nobody "
        "takes the second cannon within half a minute, a cannon that moves and fires at "
        "random does.",
        {
            **atari_key_map(multi_seat_game("space_invaders").action_meanings),
            "labels": {"LEFT": "move left", "RIGHT": "move right", "FIRE": "shoot"},
            "touch": ["LEFT", "FIRE", "RIGHT"],
        },
        seats=[
            _seat(0, "space_invaders", "You are the green cannon, on the left.", policy="Random"),
            _seat(
                1,
                "space_invaders",
                "You are the yellow cannon, on the right.",
                fill="human_or_policy",
                policy="Random",
                human_timeout=WAIT,
            ),
        ],
        policies=[RANDOM],
        on_leave="ai",
    ),
]


# --- board games -----------------------------------------------------------------------------
# Two seats, turn-based (games/engine/boards.py): a person moves by clicking a cell, a column or
# a piece on the board (the key map's "board" regions, in frame pixels, each pressing its key),
# or with the arrow keys and Enter (the page moves a cursor between the regions), or with the
# number keys where a game has few moves. An AI's move is played as soon as it is its turn.

# Tic-tac-toe's cells by reading order (1 top left, 9 bottom right), as PettingZoo numbers
# them: by column (cell = 3 * column + row).
TTT_DIGITS = {f"Digit{3 * row + column + 1}": 3 * column + row for row in range(3) for column in range(3)}  # fmt: skip  # noqa: E501


def _board_keys(game: str, keys: dict[str, int], labels: dict[int, str]) -> dict[str, Any]:
    """The key map of a board game: ``keys`` press moves (a key code each, its action), and
    a click on a region presses the key of its move, or a key of its own ("Move<action>")."""
    spec = board_game(game)
    by_action = {action: code for code, action in keys.items()}
    regions = []
    for left, top, width, height, action in spec.regions:
        code = by_action.setdefault(action, f"Move{action}")
        regions.append([left, top, width, height, code])
    symbols = {action: spec.action_meanings[action] for action in by_action}
    return {
        "keys": {code: symbols[action] for action, code in by_action.items()},
        "combos": {"": spec.noop, **{symbols[action]: action for action in by_action}},
        "labels": {symbols[action]: text for action, text in labels.items()},
        "touch": [],
        "board": {"regions": regions},
    }


BOARD_PLAYER = {"name": "Board player", "kind": "board"}
YOUR_TURN = " The strip above the board has your colour when it is your turn."
CLICK = " Click where you want to play, or steer the cursor over the board from the keyboard."


def _board_seat(
    index: int,
    game: str,
    instructions: str,
    *,
    fill: str = "human",
    human_timeout: int = 30,
) -> dict[str, Any]:
    return {
        "index": index,
        "role": board_game(game).roles[index],
        "instructions": instructions,
        "key_map": {},
        "fill": fill,
        "policy": "Board player",
        "human_timeout": human_timeout,
    }


def _board(
    slug: str,
    title: str,
    game: str,
    description: str,
    instructions: str,
    key_map: dict[str, Any],
    *,
    seats: list[dict[str, Any]],
    on_leave: str,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "env_id": f"multi/{game}",
        "env_kwargs": {"max_steps": 500},
        "fps": 4,
        "turn_based": True,
        "short_description": description,
        "instructions": instructions,
        "key_map": key_map,
        "default_action": board_game(game).noop,
        "max_steps": 500,
        "on_leave": on_leave,
        "seats": seats,
        "policies": [BOARD_PLAYER],
        # Nothing moves until someone plays: the first move is the start.
        "start_countdown": 1.0,
    }


TTT_KEYS = _board_keys(
    "tictactoe",
    TTT_DIGITS,
    {3 * c + r: f"mark row {r + 1}, column {c + 1}" for r in range(3) for c in range(3)},
)
C4_KEYS = _board_keys(
    "connect_four",
    {f"Digit{column + 1}": column for column in range(7)},
    {column: f"drop a disc in column {column + 1}" for column in range(7)},
)
QUARTO_KEYS = _board_keys(
    "quarto",
    {},
    {
        **{cell: f"place the piece in hand on cell {cell + 1}" for cell in range(16)},
        **{16 + piece: f"give piece {piece + 1} to your opponent" for piece in range(16)},
    },
)
TTT_RULES = "Three in a row, column or diagonal wins."
C4_RULES = "Drop discs into the columns; four in a row, column or diagonal wins."
QUARTO_RULES = (
    "Sixteen pieces: tall or short, dark or light, square or round, hollow or solid. You "
    "place the piece your opponent gave you, then give them one of the rest. Whoever places "
    "the fourth piece of a row, column or diagonal whose pieces share an attribute wins."
)

DEFAULT_GAMES += [
    _board(
        "tictactoe",
        "Tic-tac-toe",
        "tictactoe",
        "Noughts and crosses against the board player.",
        TTT_RULES + " You play crosses and move first; the board player wins if it can and "
        "blocks if it must.",
        TTT_KEYS,
        seats=[
            _board_seat(0, "tictactoe", "You are crosses, in red." + CLICK + YOUR_TURN),
            _board_seat(1, "tictactoe", "", fill="policy"),
        ],
        on_leave="abandon",
    ),
    _board(
        "tictactoe-2p",
        "Tic-tac-toe for two",
        "tictactoe",
        "Noughts and crosses, two people on two screens.",
        TTT_RULES + " If nobody takes the second seat within half a minute, the board player "
        "does; it also takes over from a player who leaves.",
        TTT_KEYS,
        seats=[
            _board_seat(0, "tictactoe", "You are crosses, in red, and move first." + CLICK),
            _board_seat(
                1,
                "tictactoe",
                "You are noughts, in blue." + CLICK + YOUR_TURN,
                fill="human_or_policy",
                human_timeout=WAIT,
            ),
        ],
        on_leave="ai",
    ),
    _board(
        "connect-four",
        "Connect four",
        "connect_four",
        "Four in a row against the board player.",
        C4_RULES + " You play red and move first; the board player wins if it can and blocks "
        "if it must.",
        C4_KEYS,
        seats=[
            _board_seat(
                0,
                "connect_four",
                "You are red. Click a column, press its number (1 to 7), or steer the cursor "
                "over the board from the keyboard." + YOUR_TURN,
            ),
            _board_seat(1, "connect_four", "", fill="policy"),
        ],
        on_leave="abandon",
    ),
    _board(
        "connect-four-2p",
        "Connect four for two",
        "connect_four",
        "Four in a row, two people on two screens.",
        C4_RULES + " If nobody takes the second seat within half a minute, the board player "
        "does; it also takes over from a player who leaves.",
        C4_KEYS,
        seats=[
            _board_seat(0, "connect_four", "You are red and move first." + CLICK),
            _board_seat(
                1,
                "connect_four",
                "You are blue." + CLICK + YOUR_TURN,
                fill="human_or_policy",
                human_timeout=WAIT,
            ),
        ],
        on_leave="ai",
    ),
    _board(
        "quarto",
        "Quarto",
        "quarto",
        "Four pieces with something in common, against the board player.",
        QUARTO_RULES + " You open by choosing the board player's first piece.",
        QUARTO_KEYS,
        seats=[
            _board_seat(
                0,
                "quarto",
                "Click a piece on the right to give it, and a cell of the board to place the "
                "piece in hand; or steer the cursor over the board from the keyboard." + YOUR_TURN,
            ),
            _board_seat(1, "quarto", "", fill="policy"),
        ],
        on_leave="abandon",
    ),
    _board(
        "quarto-2p",
        "Quarto for two",
        "quarto",
        "Four pieces with something in common, two people on two screens.",
        QUARTO_RULES + " If nobody takes the second seat within half a minute, the board "
        "player does; it also takes over from a player who leaves.",
        QUARTO_KEYS,
        seats=[
            _board_seat(0, "quarto", "You give the first piece." + CLICK + YOUR_TURN),
            _board_seat(
                1,
                "quarto",
                "Your opponent gives you the first piece." + CLICK + YOUR_TURN,
                fill="human_or_policy",
                human_timeout=WAIT,
            ),
        ],
        on_leave="ai",
    ),
]
