"""Dataset exports: which episodes, where they go, and the run that writes them.

``episodes_for_export`` is the query (the filters of ``export_dataset`` and of the admin
action); ``dataset_export`` reads each episode's chunks, turns its frames into the chosen
observation, hands it to the chosen format (``exports/formats/``), publishes the files to
the destination and records each episode there, so the next run adds only new ones. Output
is deterministic: episodes in a fixed order, no run time inside the data files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet

from recording.frames import episode_data
from recording.models import Episode

from . import observations, players, scopes, seats
from .formats import FORMATS, ExportItem, Target
from .models import AdminExport, ExportedEpisode
from .replay import ale_ram

STORAGE_PREFIX = "storage:"


class ExportError(ValueError):
    """The export cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class EpisodeQuery:
    """The filters: every field narrows the episodes; the defaults keep staff and tests out."""

    games: tuple[str, ...] = ()  # game slugs; empty: every game
    since: date | None = None  # started on or after this day (UTC)
    until: date | None = None  # started on or before this day (UTC)
    statuses: tuple[str, ...] = (Episode.Status.COMPLETE,)
    min_steps: int = 0
    min_return: float | None = None
    verified_only: bool = False
    include_staff: bool = False
    include_test_accounts: bool = False
    episodes: tuple[str, ...] = ()  # these episodes only (the admin's selection)
    within: scopes.Within | None = None  # what a scope vouches for: a study's episodes
    played_by: players.PlayedBy = players.EVERYONE  # who held the seats (exports/players.py)


def selection(
    episode_ids: Iterable[str], played_by: players.PlayedBy = players.EVERYONE
) -> EpisodeQuery:
    """Exactly these episodes, from any account and however they ended (the admin's pick);
    of those, ``played_by``'s."""
    return EpisodeQuery(
        episodes=tuple(str(pk) for pk in episode_ids),
        statuses=(),
        include_staff=True,
        include_test_accounts=True,
        played_by=played_by,
    )


def admin_export_destination(*, now: datetime, count: int) -> str:
    """Where an admin's export goes: a new storage prefix per request (two admins exporting
    as many episodes in the same second still get two)."""
    unique = secrets.token_hex(4)
    return f"{STORAGE_PREFIX}exports/admin/{now:%Y%m%d-%H%M%S}-{count}-episodes-{unique}"


def episodes_for_export(query: EpisodeQuery) -> QuerySet[Episode]:
    """The matching episodes in export order: by game, then by start time, then by id.

    Whatever the filters, episodes a scope withholds (a withdrawn participant's) are left out.
    ``ExportError`` when ``query.within`` or an agent of ``query.played_by`` names something
    that does not exist. Each episode comes with its seats (who played).
    """
    episodes: QuerySet[Episode] = Episode.objects.select_related("game", "user")
    episodes = episodes.prefetch_related("seats")
    if query.episodes:
        episodes = episodes.filter(pk__in=query.episodes)
    try:
        if query.within is not None:
            episodes = episodes.filter(pk__in=scopes.episodes_within(query.within))
        episodes = players.filtered(episodes, query.played_by)
    except scopes.Unknown as exc:
        raise ExportError(str(exc)) from None
    for withheld in scopes.withheld():
        episodes = episodes.exclude(pk__in=withheld)
    if query.games:
        episodes = episodes.filter(game__slug__in=query.games)
    if query.since:
        episodes = episodes.filter(started_at__gte=_day_start(query.since))
    if query.until:
        episodes = episodes.filter(started_at__lt=_day_start(query.until, days=1))
    if query.statuses:
        episodes = episodes.filter(status__in=query.statuses)
    if query.min_steps:
        episodes = episodes.filter(steps__gte=query.min_steps)
    if query.min_return is not None:
        episodes = episodes.filter(total_return__gte=query.min_return)
    if query.verified_only:
        episodes = episodes.filter(verification=Episode.Verification.VERIFIED)
    if not query.include_staff:
        episodes = episodes.filter(user__is_staff=False)
    if not query.include_test_accounts:
        episodes = episodes.filter(user__is_test_account=False)
    return episodes.order_by("game__slug", "started_at", "uuid")


def _day_start(day: date, days: int = 0) -> datetime:
    return datetime.combine(day, day_time.min, tzinfo=UTC) + timedelta(days=days)


def user_pseudonym(user_id: Any) -> str:
    """How a user appears in datasets: HMAC-SHA256 of the id under ARCADE_PSEUDONYM_KEY."""
    key = settings.PSEUDONYM_KEY.encode()
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


# --- where the files go ----------------------------------------------------------------------


def destination_key(destination: str) -> str:
    """One spelling per place: ``storage:<prefix>`` or ``folder:<absolute path>``."""
    if destination.startswith(STORAGE_PREFIX):
        prefix = destination.removeprefix(STORAGE_PREFIX).strip("/")
        if not prefix:
            raise ExportError("storage destinations need a prefix, e.g. storage:exports/pong")
        return STORAGE_PREFIX + prefix
    if not destination:
        raise ExportError("give a destination: a folder, or storage:<prefix>")
    return "folder:" + str(Path(destination).expanduser().resolve())


class FolderTarget(Target):
    """A local folder. Files are staged in a hidden folder inside it and moved into place
    (a rename, on the same disk) only when the whole run has been written, so a run that
    fails leaves the destination as it was."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.destination = path
        self.root = Path(tempfile.mkdtemp(prefix=".arcade-staging-", dir=path))

    def fetch(self, relative: str) -> bool:
        source = self.destination / relative
        if not source.is_file():
            return False
        (self.root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, self.root / relative)
        return True

    def names(self, relative: str) -> list[str]:
        folder = self.destination / relative
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def publish(self) -> list[str]:
        moved = []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            relative = path.relative_to(self.root)
            (self.destination / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, self.destination / relative)
            moved.append(str(relative))
        return moved

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class StorageTarget(Target):
    """A prefix in the default storage (Google Cloud Storage in production).

    Formats write to a local staging folder; what they need of an earlier export (Minari's
    metadata, to append) is fetched first, and every staged file is uploaded at the end.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.root = Path(tempfile.mkdtemp(prefix="arcade-export-"))

    def _name(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    def fetch(self, relative: str) -> bool:
        name = self._name(relative)
        if not default_storage.exists(name):
            return False
        local = self.root / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as remote, local.open("wb") as copy:
            shutil.copyfileobj(remote, copy)
        return True

    def names(self, relative: str) -> list[str]:
        try:
            _, files = default_storage.listdir(self._name(relative))
        except FileNotFoundError:
            return []
        return sorted(files)

    def publish(self) -> list[str]:
        uploaded = []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            name = self._name(path.relative_to(self.root).as_posix())
            if default_storage.exists(name):
                default_storage.delete(name)
            with path.open("rb") as handle:
                default_storage.save(name, File(handle))
            uploaded.append(name)
        return uploaded

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _target(key: str) -> Target:
    if key.startswith(STORAGE_PREFIX):
        return StorageTarget(key.removeprefix(STORAGE_PREFIX))
    return FolderTarget(Path(key.removeprefix("folder:")))


# --- the run -----------------------------------------------------------------------------------


@dataclass
class ExportSummary:
    destination: str
    format: str
    observation: str
    matched: int = 0  # episodes the query found
    already: int = 0  # of those, already in this destination
    exported: int = 0
    steps: int = 0  # observation steps written
    frames: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    locations: list[str] = field(default_factory=list)  # datasets / part files written
    folders: dict[str, int] = field(default_factory=dict)  # folder written: files in it
    skipped: list[str] = field(default_factory=list)  # episodes that could not be read, why
    withheld: int = 0  # episodes already in the destination that a scope now withholds
    played_by: players.PlayedBy = players.EVERYONE

    def lines(self) -> list[str]:
        verb = "would export" if self.dry_run else "exported"
        rate = self.steps / self.seconds if self.seconds else 0.0
        lines = [
            *([] if self.played_by.everyone else [f"played by {self.played_by}"]),
            f"{self.matched} episodes match; {self.already} already in {self.destination}.",
            f"{verb} {self.exported} episodes, {self.steps} steps, {self.frames} observations "
            f"as {self.format} ({self.observation})"
            + ("." if self.dry_run else f" in {self.seconds:.1f} s ({rate:,.0f} steps/s)."),
        ]
        lines += [
            f"  wrote {folder}/ ({files} file{'s' if files != 1 else ''})"
            for folder, files in self.folders.items()
        ]
        if self.withheld:
            lines.append(
                f"WITHHELD since exported: {self.withheld} episodes in {self.destination} (a "
                "study's participant withdrew); export to a new destination and delete this one "
                "to leave them out."
            )
        if self.skipped:
            lines.append(f"SKIPPED {len(self.skipped)} episodes that could not be read:")
            lines += [f"  skipped {reason}" for reason in self.skipped]
        return lines


def written_folders(files: Iterable[str]) -> dict[str, int]:
    """The folders ``files`` (relative paths) went to, with how many files each got; Minari's
    numbered episode folders count in their dataset's ``data`` folder (one line, not one per
    episode)."""
    counts: dict[str, int] = {}
    for name in files:
        folder = Path(name).parent
        while folder.name.isdigit():
            folder = folder.parent
        counts[folder.as_posix()] = counts.get(folder.as_posix(), 0) + 1
    return dict(sorted(counts.items()))


Progress = Callable[[int], None]


def dataset_export(
    *,
    query: EpisodeQuery,
    destination: str,
    format: str = "minari",
    observation: str = "rgb",
    dry_run: bool = False,
    progress: Callable[[int, int], Progress] | None = None,
    ram: observations.RamSource = ale_ram,
) -> ExportSummary:
    """Write the query's episodes not yet in ``destination``; safe to run again.

    ``progress(episodes, steps)`` is called once with the totals and returns a callback that
    is given the steps of each episode as it is written.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if observation not in observations.OBSERVATIONS:
        names = ", ".join(observations.OBSERVATIONS)
        raise ExportError(f"unknown observation {observation!r}: use one of {names}")
    key = destination_key(destination)
    summary = ExportSummary(destination=key, format=format, observation=observation)
    summary.dry_run = dry_run
    summary.played_by = query.played_by
    earlier = ExportedEpisode.objects.filter(destination=key)
    clash = earlier.exclude(format=format, observation=observation).first()
    if clash is not None:
        raise ExportError(
            f"{key} already holds a {clash.format} dataset of {clash.observation} observations; "
            "export there with the same --format and --observation, or choose a new destination"
        )
    _check_same_players(earlier, key, query.played_by)
    matching = list(episodes_for_export(query))
    done = set(earlier.values_list("episode_id", flat=True))
    # Files already written keep what was exported then; say so when some of it has since
    # been withdrawn, so the operator can replace the destination.
    withheld = Q()
    for episodes in scopes.withheld():
        withheld |= Q(episode_id__in=episodes)
    summary.withheld = earlier.filter(withheld).count() if withheld else 0
    todo = [episode for episode in matching if episode.pk not in done]
    summary.matched, summary.already = len(matching), len(matching) - len(todo)
    for episode in todo:
        try:
            observations.check_available(observation, episode.pixel_format)
        except observations.ObservationUnavailable as exc:
            raise ExportError(
                f"{episode.game.slug}: {exc}; leave the game out with --game"
            ) from None
        if observation == "ram" and episode.is_multi_seat:
            raise ExportError(
                f"{episode.game.slug}: RAM observations of multi-seat games are not exported "
                "yet; choose another --observation, or leave the game out with --game"
            )
    if dry_run:
        summary.exported = len(todo)
        summary.steps = sum(episode.steps for episode in todo)
        summary.frames = summary.steps + len(todo)
        return summary

    target = _target(key)
    started = time.perf_counter()
    advance = progress(len(todo), sum(e.steps for e in todo)) if progress else None
    try:
        writer = FORMATS[format](target, observation=observation, played_by=query.played_by)
        written: list[tuple[Episode, str]] = []
        for episode in todo:
            try:
                data = episode_data(episode)
            except (ValueError, OSError) as exc:
                summary.skipped.append(f"{episode.pk}: {exc}")
                continue
            tenures = [(s.index, s.from_step, s.kind) for s in episode.seats.all()]
            seats.pseudonymise_holders(data, user_pseudonym, tenures)
            trajectory = observations.transform(observation, data, episode=episode, ram=ram)
            location = writer.add(
                ExportItem(
                    episode=episode,
                    user=user_pseudonym(episode.user_id),
                    data=data,
                    trajectory=trajectory,
                    context=scopes.exported_context(episode.context),
                    played_by=players.label(players.kinds_of(episode)),
                    seats=players.seats_of(episode, user_pseudonym),
                )
            )
            written.append((episode, location))
            summary.exported += 1
            summary.steps += len(trajectory.actions)
            summary.frames += trajectory.n_observations
            if advance:
                advance(episode.steps)
        all_exported = [
            e.episode
            for e in earlier.select_related("episode__game").prefetch_related("episode__seats")
        ]
        writer.close(card_episodes=_unique(all_exported + [e for e, _ in written]))
        staged = [p.relative_to(target.root).as_posix() for p in target.root.rglob("*")]
        summary.folders = written_folders(name for name in staged if (target.root / name).is_file())
        target.publish()
    finally:
        target.cleanup()
    ExportedEpisode.objects.bulk_create(
        ExportedEpisode(
            destination=key,
            episode=episode,
            format=format,
            observation=observation,
            played_by=query.played_by.as_json(),
            location=location,
        )
        for episode, location in written
    )
    summary.locations = sorted({location for _, location in written})
    summary.seconds = time.perf_counter() - started
    return summary


def _check_same_players(
    earlier: QuerySet[ExportedEpisode], key: str, played_by: players.PlayedBy
) -> None:
    """A destination is one dataset: its card states one filter on who played, so episodes
    chosen by another may not join it (``ExportError``)."""
    for stored in earlier.order_by().values_list("played_by", flat=True).distinct():
        theirs = players.PlayedBy.from_json(stored)
        if theirs != played_by:
            raise ExportError(
                f"{key} holds episodes exported for {theirs}; export there with the same "
                f"filter ({theirs.options() or 'no --played-by or --agent'}), or choose a new "
                "destination"
            )


def _unique(episodes: Iterable[Episode]) -> list[Episode]:
    seen: dict[Any, Episode] = {}
    for episode in episodes:
        seen.setdefault(episode.pk, episode)
    return list(seen.values())


# --- exports the admin asks for --------------------------------------------------------------


def admin_export_start(
    *,
    episode_ids: Iterable[Any],
    format: str,
    user: Any,
    played_by: players.PlayedBy = players.EVERYONE,
) -> AdminExport:
    """Record an admin's export of the selected episodes that ``played_by`` keeps, and queue
    it for a worker once this transaction commits.

    ``ExportError`` when the filter names an agent that never played, or keeps none of them.
    """
    from django.db import transaction
    from django.utils import timezone

    from .tasks import admin_export

    ids = [str(pk) for pk in episode_ids]
    count = len(ids)
    if not played_by.everyone:
        count = episodes_for_export(selection(ids, played_by)).count()
        if not count:
            raise ExportError(
                f"none of the {len(ids)} selected episodes was played by {played_by}: choose "
                "other players, or other episodes"
            )
    destination = admin_export_destination(now=timezone.now(), count=count)
    export = AdminExport.objects.create(
        requested_by=user,
        format=format,
        episode_ids=ids,
        played_by=played_by.as_json(),
        prefix=destination.removeprefix(STORAGE_PREFIX),
        episodes_total=count,
    )
    transaction.on_commit(lambda: admin_export.delay(export.pk))
    return export


def admin_export_run(export: AdminExport) -> None:
    """Write an admin's export, counting episodes into its row as they are written."""
    from django.utils import timezone

    rows = AdminExport.objects.filter(pk=export.pk)
    rows.update(status=AdminExport.Status.RUNNING, episodes_done=0, error="")

    def started(episodes: int, _steps: int) -> Progress:
        done = export.episodes_total - episodes  # already in the destination (a retried run)
        rows.update(episodes_total=export.episodes_total, episodes_done=done)

        def advance(_episode_steps: int) -> None:
            nonlocal done
            done += 1
            rows.update(episodes_done=done)

        return advance

    try:
        summary = dataset_export(
            query=selection(export.episode_ids, players.PlayedBy.from_json(export.played_by)),
            destination=export.destination,
            format=export.format,
            observation="rgb",
            progress=started,
        )
    except (ExportError, players.NotAFilter) as exc:
        # Nothing a retry would change: say why on the export's row.
        rows.update(status=AdminExport.Status.FAILED, error=str(exc), finished_at=timezone.now())
        return
    except Exception as exc:
        # Shown in the admin while the task retries (a transient error) or after it gave up.
        rows.update(status=AdminExport.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    rows.update(
        status=AdminExport.Status.DONE,
        episodes_done=summary.matched,
        summary="\n".join(summary.lines()),
        finished_at=timezone.now(),
    )


def admin_export_files(export: AdminExport) -> list[str]:
    """The export's files, as paths relative to its prefix, sorted."""
    found: list[str] = []

    def walk(relative: str) -> None:
        try:
            folders, files = default_storage.listdir(f"{export.prefix}/{relative}".rstrip("/"))
        except FileNotFoundError:
            return
        found.extend(f"{relative}{name}" for name in files)
        for folder in folders:
            walk(f"{relative}{folder}/")

    walk("")
    return sorted(found)
