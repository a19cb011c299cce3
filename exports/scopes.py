"""What the apps above exports say about the episodes they gave a context to.

An episode played for something, such as a study's game block, says so in
``Episode.context`` (``play.contexts``). Exports may not import those apps
(docs/architecture.md), and must not judge their data from the context alone: whether a
participant is still in a study's exports (they may have withdrawn since the episode) is the
study's to say, and so is which of the context's values are ids to hide. So an app registers
a ``Scope`` in its ``AppConfig.ready``, named by the key its contexts carry (studies:
``"study"``), and the exporter asks it:

- ``episodes(value, part)``: the episodes of one of its things (a study's slug; ``part``: one
  of its conditions) that may be exported now: ``export_dataset --study SLUG``;
- ``withheld()``: episodes no export may include any more (a withdrawn participant's),
  left out of every export whatever its filters, the admin's selections included;
- ``context(context)``: the context as datasets show it (people's ids as pseudonyms);
- ``fields``: what the exported context's keys mean, for the dataset card.

Why a registry rather than the studies app computing a list of episode ids and handing it to
the exporter: every caller (the command line, the admin's exports, a later API) then gets the
same rules, withdrawal included, without knowing that studies exist, and the exporter's query
stays one query (the scope's answers are subqueries). A context no scope claims is left out
of the datasets: nobody has said which of its values are ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Episode ids: a list, or a QuerySet of them (``values("episode_id")``), used as a subquery.
EpisodeIds = Any


class Unknown(LookupError):
    """What an export asked a scope for does not exist; the message says what does."""


@dataclass(frozen=True)
class Scope:
    name: str  # the key of ``Episode.context`` that marks its episodes
    episodes: Callable[[str, str | None], EpisodeIds]  # (value, part) -> exportable episodes
    withheld: Callable[[], EpisodeIds]
    context: Callable[[dict[str, Any]], dict[str, Any]]  # as datasets show it
    fields: tuple[tuple[str, str, str], ...] = ()  # (key, type, meaning) of that context


@dataclass(frozen=True)
class Within:
    """An export limited to what one scope vouches for, e.g. a study's (one condition's)."""

    scope: str  # the scope's name: "study"
    value: str  # which one: a study's slug
    part: str | None = None  # a part of it: a condition's name


_scopes: dict[str, Scope] = {}


def provide(scope: Scope) -> None:
    """Register ``scope`` (again: replaces the one of the same name)."""
    _scopes[scope.name] = scope


def named(name: str) -> Scope:
    if name not in _scopes:
        known = ", ".join(sorted(_scopes)) or "none"
        raise Unknown(f"no export scope {name!r} (known: {known})")
    return _scopes[name]


def episodes_within(within: Within) -> EpisodeIds:
    return named(within.scope).episodes(within.value, within.part)


def withheld() -> list[EpisodeIds]:
    """Every scope's withheld episodes, one subquery each."""
    return [scope.withheld() for scope in _scopes.values()]


def claimed_by(context: dict[str, Any]) -> Scope | None:
    return next((scope for name, scope in _scopes.items() if name in context), None)


def exported_context(context: dict[str, Any]) -> dict[str, Any]:
    """The context as datasets carry it: as its scope shows it, or nothing when unclaimed."""
    scope = claimed_by(context or {})
    return scope.context(context) if scope is not None else {}


def fields_of(contexts: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The card's description of the contexts in a dataset: each claiming scope's fields,
    in the order the scopes were registered."""
    present = {scope.name for c in contexts if (scope := claimed_by(c or {})) is not None}
    return [field for name, scope in _scopes.items() if name in present for field in scope.fields]
