"""The default catalogue that `make run` and `manage.py load_catalogue` install."""

from __future__ import annotations

from typing import Any

from .engine.keymap import ATARI_KEYS, atari_key_map

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
