"""The default catalogue that `make run` and `manage.py load_catalogue` install."""

from __future__ import annotations

from typing import Any

ATARI_KWARGS: dict[str, Any] = {
    "frameskip": 1,
    "repeat_action_probability": 0.0,
    "full_action_space": False,
}

ATARI_CONTROLS = (
    "Arrow keys or W A S D move; Space fires. Keys are held, like a joystick.\n"
    "If the window loses focus, all keys are released."
)


def _atari(slug: str, title: str, env: str, description: str, instructions: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "env_id": f"ALE/{env}-v5",
        "env_kwargs": dict(ATARI_KWARGS),
        "fps": 60,
        "turn_based": False,
        "short_description": description,
        "instructions": instructions,
        "controls": ATARI_CONTROLS,
    }


DEFAULT_GAMES: list[dict[str, Any]] = [
    _atari(
        "pong",
        "Pong",
        "Pong",
        "Table tennis against the computer.",
        (
            "You are the green paddle on the right: Right moves it up and Left moves it "
            "down (Atari's own names for these actions). First to 21 wins."
        ),
    ),
    _atari(
        "breakout",
        "Breakout",
        "Breakout",
        "Knock out the wall, brick by brick.",
        "Press Space to serve, then keep the ball in play with the paddle.",
    ),
    _atari(
        "space-invaders",
        "Space Invaders",
        "SpaceInvaders",
        "Hold off the invasion.",
        "Move left and right and shoot the invaders before they land.",
    ),
    _atari(
        "ms-pacman",
        "Ms. Pac-Man",
        "MsPacman",
        "Eat the dots, dodge the ghosts.",
        "Clear the maze of dots. Power pills let you eat the ghosts for a while.",
    ),
    _atari(
        "montezuma",
        "Montezuma's Revenge",
        "MontezumaRevenge",
        "Explore the pyramid: the classic hard-exploration game.",
        "Climb, jump (Space) and collect keys to open doors. Avoid skulls and long falls.",
    ),
    _atari(
        "seaquest",
        "Seaquest",
        "Seaquest",
        "Rescue divers under the sea.",
        "Shoot sharks and subs, collect six divers, and surface before your oxygen runs out.",
    ),
    _atari(
        "qbert",
        "Q*bert",
        "Qbert",
        "Change the colour of every cube.",
        "Hop diagonally (arrow keys) onto each cube to change its colour; avoid the enemies.",
    ),
    _atari(
        "freeway",
        "Freeway",
        "Freeway",
        "Help the chicken cross the road.",
        "Hold Up to cross ten lanes of traffic as many times as you can.",
    ),
    _atari(
        "enduro",
        "Enduro",
        "Enduro",
        "A day-long endurance race.",
        "Hold Space to accelerate and steer left and right to pass cars.",
    ),
    {
        "slug": "tower-of-hanoi",
        "title": "Tower of Hanoi",
        "env_id": "arcade/TowerOfHanoi-v0",
        "env_kwargs": {"n_disks": 4},
        "fps": 4,
        "turn_based": True,
        "short_description": "Move the tower, one disk at a time.",
        "instructions": (
            "Move all disks to the rightmost peg. You may never put a larger disk "
            "on a smaller one. Solve it in as few moves as you can."
        ),
        "controls": "Left and Right move the cursor; Space picks up or drops a disk.",
        "key_map": {
            "keys": {
                "ArrowLeft": "LEFT",
                "ArrowRight": "RIGHT",
                "Space": "PICKDROP",
                "Enter": "PICKDROP",
                "ArrowDown": "PICKDROP",
            },
            "combos": {"": 0, "LEFT": 1, "RIGHT": 2, "PICKDROP": 3},
        },
    },
]
