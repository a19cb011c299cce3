"""Messages between the play sockets of one player, on whichever web process each is.

Every play socket joins its player's group (``recording.notices.player_group``), which is
also how the workers' notices reach it.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class GameRelease(TypedDict):
    """A newer tab of the player takes over this game: its socket lets go of it (parks it for
    the hand-over) and says so on ``reply``, or stays silent if it does not hold it."""

    type: Literal["game.release"]
    episode: str
    reply: str


class GameReleased(TypedDict):
    type: Literal["game.released"]
    episode: str
