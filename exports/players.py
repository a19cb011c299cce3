"""Who played an episode: the filter on it, and how datasets name each seat's holder.

Every seat of an episode is held by a person (``human``), a program through the agent API
(``agent``, as its token's owner), an AI policy (``policy``) or nobody (``vacant``), each from
a step on (``recording.EpisodeSeat``). An export chooses whose play it holds with ``PlayedBy``:

- ``kinds``: an episode is included when **every** seat held by someone was held only by
  holders of these kinds, for the whole episode, and at least one seat was. Vacant seats do
  not count. So ``humans`` is pure human play (a person whose seat an AI policy took over is
  left out), and ``humans,agents`` adds people playing against programs. Why every seat and
  not any: a researcher asking for human play wants no step decided by anyone else.
- ``agents``: only episodes with a seat held by one of these programs, each by its name and,
  optionally, its version (``dqn``: every version, ``dqn@2``: version 2 only).

Both narrow: ``--played-by agents --agent dqn`` is dqn playing alone. The programs' names
are the agents app's to say (exports may not import it: docs/architecture.md), so they are
asked of the export scope it registers, ``agent`` (``agents/scope.py``): its ``episodes(name,
version)`` are a program's episodes, and the context it exports names it in ``agent`` and
``agent_version``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from recording.models import Episode, EpisodeSeat

from . import scopes

Kind = EpisodeSeat.Kind
AGENT_SCOPE = "agent"  # the scope that vouches for programs' episodes (agents/scope.py)
NAME_LENGTH = 100  # what the agent API accepts as a name or a version (agents/options.py)

# The words the filter is spelled with (``--played-by humans,agents``), as kinds of seat, in
# the order they are listed everywhere.
WORDS = {"humans": Kind.HUMAN.value, "agents": Kind.AGENT.value, "policies": Kind.POLICY.value}
ORDER = tuple(WORDS.values())
PEOPLE = {Kind.HUMAN: "people", Kind.AGENT: "programs (agent API)", Kind.POLICY: "AI policies"}


class NotAFilter(ValueError):
    """A who-played filter that cannot be read; the message says what to write instead."""


@dataclass(frozen=True)
class AgentName:
    """A program by the name it gave (``agent_name``), and its version; None: any version."""

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> AgentName:
        """``NAME`` or ``NAME@VERSION``, split at the last ``@`` (a name may hold one)."""
        text = text.strip()
        name, at, version = text.rpartition("@")
        if not at:
            name, version = text, ""
        if not name:
            raise NotAFilter(f"agent {text!r} has no name: write NAME or NAME@VERSION")
        if at and not version:
            raise NotAFilter(
                f"agent {text!r} has an @ but no version: write NAME@VERSION, or NAME alone "
                "for every version"
            )
        for part in (name, version):
            if len(part) > NAME_LENGTH:
                raise NotAFilter(
                    f"agent {text[:40]!r}…: names and versions are at most {NAME_LENGTH} "
                    "characters, as the agent API accepts them"
                )
        return cls(name, version if at else None)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class PlayedBy:
    """Whose play an export holds (the module's docstring says how); empty: everyone's."""

    kinds: tuple[str, ...] = ()  # seat kinds, in ``ORDER``
    agents: tuple[AgentName, ...] = ()  # sorted

    @classmethod
    def parse(cls, kinds: Iterable[str] = (), agents: Iterable[str] = ()) -> PlayedBy:
        """From the words people write: kinds as ``humans`` (or ``human``), ``agents``,
        ``policies``, each item possibly a comma-separated list; agents as ``NAME[@VERSION]``."""
        chosen = set()
        for item in kinds:
            for word in filter(None, (w.strip().lower() for w in item.split(","))):
                kind = WORDS.get(word, word if word in ORDER else None)
                if kind is None:
                    raise NotAFilter(
                        f"no players called {word!r}: write humans, agents or policies, "
                        "comma-separated or repeated (vacant seats never count)"
                    )
                chosen.add(kind)
        return cls.of(kinds=chosen, agents=[AgentName.parse(a) for a in agents if a.strip()])

    @classmethod
    def of(cls, *, kinds: Iterable[str], agents: Iterable[AgentName]) -> PlayedBy:
        """The canonical filter (kinds in order, agents sorted once each), checked: agents
        named while ``kinds`` leaves programs out would match nothing."""
        chosen = set(kinds)
        played_by = cls(
            kinds=tuple(k for k in ORDER if k in chosen),
            agents=tuple(sorted(set(agents), key=_by_name)),
        )
        if played_by.agents and played_by.kinds and Kind.AGENT not in played_by.kinds:
            raise NotAFilter(
                "agents are named but the players chosen leave programs out: add agents to "
                f"them ({played_by.words()},agents) or name no agent"
            )
        return played_by

    @classmethod
    def from_json(cls, data: Any) -> PlayedBy:
        """As ``as_json`` stores it (an export's record; ``{}``: everyone)."""
        if not isinstance(data, dict):
            raise NotAFilter(f"a who-played filter is an object, not {data!r}")
        agents = [
            AgentName(str(a["name"]), None if a.get("version") is None else str(a["version"]))
            for a in data.get("agents", [])
        ]
        unknown = set(data.get("kinds", [])) - set(ORDER)
        if unknown:
            raise NotAFilter(f"unknown kinds of player {sorted(unknown)}: use {', '.join(ORDER)}")
        return cls.of(kinds=data.get("kinds", []), agents=agents)

    def as_json(self) -> dict[str, Any]:
        """What an export stores to be run again the same way; one spelling per filter."""
        stored: dict[str, Any] = {}
        if self.kinds:
            stored["kinds"] = list(self.kinds)
        if self.agents:
            stored["agents"] = [{"name": a.name, "version": a.version} for a in self.agents]
        return stored

    @property
    def everyone(self) -> bool:
        return not self.kinds and not self.agents

    def words(self) -> str:
        """The kinds as ``--played-by`` spells them: ``humans,agents``."""
        plural = {kind: word for word, kind in WORDS.items()}
        return ",".join(plural[kind] for kind in self.kinds)

    def options(self) -> str:
        """As ``export_dataset``'s options: ``--played-by humans,agents --agent dqn@2``."""
        words = [f"--played-by {self.words()}"] if self.kinds else []
        return " ".join(words + [f"--agent {shlex.quote(str(a))}" for a in self.agents])

    def holders(self) -> str:
        """Who may hold the seats, in words: ``people``, ``people and programs (agent API)``."""
        named = [PEOPLE[Kind(kind)] for kind in self.kinds or ORDER]
        return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]

    def __str__(self) -> str:
        """One line for people: the card, the summary, the admin."""
        if self.everyone:
            return "everyone (no filter on who played)"
        parts = []
        if self.kinds:
            held = " or ".join(PEOPLE[Kind(kind)] for kind in self.kinds)
            parts.append(f"{self.words()}: every seat held by {held}")
        if self.agents:
            names = ", ".join(
                f"{a.name} (any version)"
                if a.version is None
                else f"{a.name} version {a.version or '(none given)'}"
                for a in self.agents
            )
            parts.append(f"a seat held by the agent {names}")
        return "; ".join(parts)


EVERYONE = PlayedBy()


def _by_name(agent: AgentName) -> tuple[str, bool, str]:
    return (agent.name, agent.version is not None, agent.version or "")


def filtered(episodes: QuerySet[Episode], played_by: PlayedBy) -> QuerySet[Episode]:
    """``episodes`` narrowed to ``played_by``'s (anti-joins on the seats, not lists of ids).

    ``scopes.Unknown`` when an agent named has no episodes, or no scope answers for agents.
    """
    seats = EpisodeSeat.objects.filter(episode=OuterRef("pk"))
    if played_by.kinds:
        others = seats.exclude(kind__in=[*played_by.kinds, Kind.VACANT])
        episodes = episodes.filter(Exists(seats.filter(kind__in=played_by.kinds))).exclude(
            Exists(others)
        )
    if played_by.agents:
        theirs = Q()
        for agent in played_by.agents:
            within = scopes.Within(scope=AGENT_SCOPE, value=agent.name, part=agent.version)
            theirs |= Q(pk__in=scopes.episodes_within(within))
        episodes = episodes.filter(theirs).filter(Exists(seats.filter(kind=Kind.AGENT)))
    return episodes


# --- who played one episode, as datasets say it ---------------------------------------------


def kinds_of(episode: Episode) -> tuple[str, ...]:
    """The kinds of holder of the episode's seats, vacant left out, in ``ORDER`` (prefetch
    ``seats`` for many episodes)."""
    held = {seat.kind for seat in episode.seats.all()}
    return tuple(kind for kind in ORDER if kind in held)


def label(kinds: Iterable[str]) -> str:
    """An episode's ``played_by`` in datasets: its kinds joined by ``+`` (``human+agent``)."""
    return "+".join(kinds)


def agent_of(episode: Episode) -> AgentName | None:
    """The program that held the episode's agent seats, as the agent scope shows it."""
    shown = scopes.exported_context(episode.context)
    if AGENT_SCOPE not in shown:
        return None
    return AgentName(str(shown[AGENT_SCOPE]), str(shown.get("agent_version", "")))


def seats_of(episode: Episode, pseudonym: Callable[[Any], str]) -> list[dict[str, Any]]:
    """Who held each seat from which step, as datasets name them: a person ``user:<pseudonym>``,
    a program ``agent:<its owner's pseudonym>`` with its name and version, an AI policy
    ``policy:<id>``, nobody ``vacant`` (the names the steps' ``seat_holders`` use)."""
    agent = agent_of(episode)
    rows = []
    for seat in sorted(episode.seats.all(), key=lambda s: (s.index, s.from_step)):
        row: dict[str, Any] = {
            "seat": seat.index,
            "from_step": seat.from_step,
            "role": seat.role,
            "kind": seat.kind,
            "holder": holder_name(seat.kind, seat.user_id, seat.policy_id, pseudonym),
            "agent": None,
            "agent_version": None,
        }
        if seat.kind == Kind.AGENT and agent is not None:
            row["agent"], row["agent_version"] = agent.name, agent.version
        rows.append(row)
    return rows


def holder_name(kind: str, user_id: Any, policy_id: Any, pseudonym: Callable[[Any], str]) -> str:
    if kind == Kind.HUMAN:
        return f"user:{pseudonym(user_id)}"
    if kind == Kind.AGENT:
        return f"agent:{pseudonym(user_id)}"
    if kind == Kind.POLICY:
        return f"policy:{policy_id}"
    return "vacant"
