"""Make every environment the arcade can host known to Gymnasium."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium as gym

ARCADE_ENVS = {
    "arcade/TowerOfHanoi-v0": "games.envs.hanoi:TowerOfHanoiEnv",
    "arcade/Quarto-v0": "games.envs.quarto:QuartoEnv",
}


def register_all() -> None:
    import ale_py

    # Arcade's own envs, by entry point: Gymnasium imports games/envs when one is made, so
    # the engine itself imports nothing of the project's.
    for env_id, entry_point in ARCADE_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(id=env_id, entry_point=entry_point)
    gym.register_envs(ale_py)
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/")


# A multi-seat Atari game is named "multi/<name>" in the catalogue, <name> one of
# ``multiplayer.multi_seat_games()`` ("multi/pong": two-player Pong). Not a Gymnasium id: the
# engine builds it as a ``MultiAtariMachine``, driven directly.
MULTI_SEAT_PREFIX = "multi/"


def is_multi_seat(env_id: str) -> bool:
    return env_id.startswith(MULTI_SEAT_PREFIX)


# Board games are multi-seat games too ("multi/tictactoe"), played by a ``BoardMachine``
# (games/engine/boards.py) instead of an emulator.
BOARD_GAMES = ("connect_four", "quarto", "tictactoe")


def is_board(env_id: str) -> bool:
    """Whether ``env_id`` is a two-player board game's ("multi/connect_four")."""
    return is_multi_seat(env_id) and env_id[len(MULTI_SEAT_PREFIX) :] in BOARD_GAMES


def multi_seat_name(env_id: str) -> str:
    """The ``MultiSeatGame`` name of a multi-seat game's env id ("multi/pong": "pong")."""
    if not is_multi_seat(env_id):
        raise ValueError(f"{env_id!r} is not a multi-seat game (they are named 'multi/<name>')")
    return env_id[len(MULTI_SEAT_PREFIX) :]


@dataclass(frozen=True)
class AtariSettings:
    """What an Atari game's cartridge offers: its game modes and difficulty switches."""

    modes: tuple[int, ...]
    difficulties: tuple[int, ...]


@functools.cache
def atari_settings(env_id: str) -> AtariSettings:
    """Read from its ROM once per process (~50 ms): what a request may ask of the game is
    checked against it before a machine is made, which would otherwise fail deep inside ALE."""
    import ale_py
    from ale_py import roms

    register_all()
    rom = roms.get_rom_path(gym.spec(env_id).kwargs["game"])
    if rom is None:
        raise ValueError(f"{env_id}: ale-py has no ROM of its game")
    ale = ale_py.ALEInterface()
    ale.loadROM(rom)
    return AtariSettings(
        modes=tuple(int(m) for m in ale.getAvailableModes()),
        difficulties=tuple(int(d) for d in ale.getAvailableDifficulties()),
    )
