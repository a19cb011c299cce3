"""Programs' episodes in the datasets: which are an agent's, and what their context shows.

A session's episode carries ``{"agent": {"name", "version", "token"}}`` in its context
(``agents/sessions.py``). Registered with ``exports.scopes`` under ``"agent"`` in
``AgentsConfig.ready``, so ``export_dataset --agent NAME[@VERSION]`` (and the admin's export
form) finds a program's episodes by the name and version it gave, and datasets name it.

The token's prefix is left out of datasets: it names a credential, and the program's owner is
already there as the pseudonym of the episode's ``user`` and of its seat.
"""

from __future__ import annotations

from typing import Any

from exports.scopes import Scope, Unknown
from recording.models import Episode

KEY = "agent"  # the key of Episode.context a session's episode carries
KNOWN_SHOWN = 20  # how many agents' names an unknown name's message lists

FIELDS = (
    ("agent", "string", "the program's name, as it gave it (`agent_name`; `agent` if none)"),
    ("agent_version", "string", "the program's version, as it gave it (empty: none given)"),
)


def agent_context(*, name: str, version: str, token_prefix: str) -> dict[str, Any]:
    """A session's episode's context: which program played, with which token."""
    return {KEY: {"name": name, "version": version, "token": token_prefix}}


def agent_episodes(name: str, version: str | None) -> Any:
    """The episodes of the program called ``name`` (of ``version`` only, unless None).

    ``Unknown`` when no episode was played by that name or version, naming those that were,
    so a mistyped name is an error rather than an empty dataset."""
    theirs = Episode.objects.filter(**{f"context__{KEY}__name": name})
    if not theirs.exists():
        names = _distinct(Episode.objects.filter(context__has_key=KEY), "name")
        raise Unknown(f"no agent called {name!r} has played (agents that have: {names})")
    if version is not None:
        of_version = theirs.filter(**{f"context__{KEY}__version": version})
        if not of_version.exists():
            versions = _distinct(theirs, "version")
            raise Unknown(
                f"agent {name!r} has played no version {version!r} (its versions: {versions})"
            )
        theirs = of_version
    return theirs.values("pk")


def _distinct(episodes: Any, field: str) -> str:
    values = sorted(
        {str(v) for v in episodes.values_list(f"context__{KEY}__{field}", flat=True).distinct()}
    )
    shown = ", ".join(repr(v) for v in values[:KNOWN_SHOWN]) or "none"
    return shown + (f" and {len(values) - KNOWN_SHOWN} more" if len(values) > KNOWN_SHOWN else "")


def withheld() -> Any:
    """None: a program's episodes are its owner's to share, like their own play."""
    return Episode.objects.none().values("pk")


def exported_context(context: dict[str, Any]) -> dict[str, Any]:
    """The program's name and version; only the keys of ``FIELDS`` (not the token)."""
    agent = context.get(KEY) or {}
    return {"agent": str(agent.get("name", "")), "agent_version": str(agent.get("version", ""))}


SCOPE = Scope(
    name=KEY,
    episodes=agent_episodes,
    withheld=withheld,
    context=exported_context,
    fields=FIELDS,
)
