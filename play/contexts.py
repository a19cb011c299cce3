"""What an episode is played for, asked of the apps above play when the episode starts.

Play knows nothing of studies or arenas (they import play, never the other way): an app
registers a provider in its ``AppConfig.ready``; when a live match starts an episode, the
first provider that recognises the people at its seats and its game gives the episode's
context (``recording.Episode.context``), e.g. a study's game block. Providers run in the
database thread that creates the episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from games.models import Game

Provider = Callable[[Sequence[Any], Game], "dict[str, Any] | None"]

_providers: list[Provider] = []


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
