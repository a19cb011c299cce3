"""Dataset formats: each module has a ``Writer`` of the same shape.

``Writer(target, observation=..., played_by=...)`` (``played_by``: the export's filter on
who played, which its card states) is given one ``ExportItem`` at a time through ``add``,
which returns where the episode went (a dataset id or a part file), and ``close`` finishes
the files (metadata, the dataset card). Writers only write below ``target.root``; the
exporter publishes that folder to the destination.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from recording.frames import EpisodeData
    from recording.models import Episode

    from ..observations import Trajectory
    from ..players import PlayedBy


class Target(ABC):
    """Where a writer's files go: ``root``, a local staging folder it writes below.

    Only what was fetched from earlier exports is in it; ``publish`` moves it all to the
    destination once the run has been written.
    """

    root: Path

    @abstractmethod
    def fetch(self, relative: str) -> bool:
        """Make an earlier export's file available under root; False if there is none."""

    @abstractmethod
    def names(self, relative: str) -> list[str]:
        """File names in a folder of the destination (earlier exports included), sorted."""

    @abstractmethod
    def publish(self) -> list[str]:
        """Send what was written to the destination."""

    @abstractmethod
    def cleanup(self) -> None: ...


@dataclass
class ExportItem:
    episode: Episode
    user: str  # the pseudonym
    data: EpisodeData
    trajectory: Trajectory
    # What the episode was played for, as its scope shows it in datasets (``exports.scopes``):
    # e.g. a study's block, its participants as pseudonyms; empty for free play.
    context: dict[str, Any] = field(default_factory=dict)
    # Who played (``exports.players``): the holders' kinds, ``human+agent``, and each seat's
    # holder from the step they took it (``players.seats_of``); the exporter always says.
    played_by: str = ""
    seats: list[dict[str, Any]] = field(default_factory=list)


class Writer(Protocol):
    def __init__(self, target: Target, *, observation: str, played_by: PlayedBy) -> None: ...

    def add(self, item: ExportItem) -> str: ...

    def close(self, *, card_episodes: list[Episode]) -> None: ...


def _minari() -> Any:
    from .minari import Writer

    return Writer


def _minari_arrow() -> Any:
    from .minari import ArrowWriter

    return ArrowWriter


def _parquet() -> Any:
    from .parquet import Writer

    return Writer


class _Formats(dict[str, Any]):
    """Writers by name, imported when first used (Minari pulls in a lot)."""

    def __getitem__(self, name: str) -> type[Writer]:
        loader = super().__getitem__(name)
        writer: type[Writer] = loader()
        return writer


FORMATS = _Formats({"minari": _minari, "minari-arrow": _minari_arrow, "parquet": _parquet})
