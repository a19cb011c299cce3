"""What an episode is played for, and whom a player may meet, asked of the apps above play.

Play knows nothing of studies or arenas (they import play, never the other way): an app
registers providers in its ``AppConfig.ready``.

- When a live match starts an episode, the first context provider that recognises the people
  at its seats and its game gives the episode's context (``recording.Episode.context``), e.g. a
  study's game block. Context providers run in the database thread that creates the episode.
- When a person asks for a seat in a multi-seat game, the first waiting-room provider that
  recognises them names the waiting room they wait in (``play/lobby.py``), e.g. a study block's
  own, so that its participants meet only each other; otherwise they wait in the game's public
  one. Waiting-room providers run in a database thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from games.models import Game

Provider = Callable[[Sequence[Any], Game], "dict[str, Any] | None"]
WaitingRoom = Callable[[Any, Game], "str | None"]

_providers: list[Provider] = []
_waiting_rooms: list[WaitingRoom] = []


def provide(provider: Provider) -> None:
    """Register ``provider(people, game)``: a context for an episode of ``game`` whose human
    seats are held by ``people`` (users, in seat order), or None when it is not theirs."""
    if provider not in _providers:
        _providers.append(provider)


def for_episode(people: Sequence[Any], game: Game) -> dict[str, Any]:
    for provider in _providers:
        context = provider(people, game)
        if context:
            return context
    return {}


def provide_waiting_room(provider: WaitingRoom) -> None:
    """Register ``provider(user, game)``: the name of the waiting room ``user`` waits in for a
    seat in ``game`` (only people given the same name meet there), or None when they are not
    the provider's."""
    if provider not in _waiting_rooms:
        _waiting_rooms.append(provider)


def waiting_room(user: Any, game: Game) -> str:
    """The waiting room's name ("" for the game's public one)."""
    for provider in _waiting_rooms:
        name = provider(user, game)
        if name:
            return name
    return ""
