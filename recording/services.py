"""Episodes from start to finalisation: what the consumer and the workers call."""

from __future__ import annotations

import json
import logging
import platform
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any, Literal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, FloatField, Max, Min, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from games.engine.machines import STICKY_ACTIONS
from games.engine.registry import is_multi_seat, multi_seat_name
from games.models import Game, Policy

from . import chunkfile, counters, notices, stepcolumns, transfer, verification
from .chunkfile import ChunkHeader
from .frames import episode_frame_rgb as episode_frame_rgb  # where callers found it
from .models import Chunk, Episode, EpisodeSeat, Transition

log = logging.getLogger(__name__)


class ChunkMissing(Exception):
    """The chunk's bytes are not in Redis (expired, or never arrived)."""


class ChunksPending(Exception):
    """Finalisation ran before every chunk of the episode was stored."""


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "arcade": settings.ARCADE_VERSION,
        **{name: version(name) for name in ("ale-py", "gymnasium", "numpy")},
        # Who draws sticky actions (games/engine/machines.py); episodes recorded while ALE
        # drew them lack this and cannot be replayed (recording/verification.py).
        "sticky_actions": STICKY_ACTIONS,
    }


SeatKind = Literal["human", "policy", "vacant", "agent"]


@dataclass(frozen=True, kw_only=True)
class SeatHolder:
    """Who holds one seat of an episode as it starts (or, ``seat_taken``, from a step on)."""

    index: int  # 0: the first player
    role: str = ""  # who the seat is on the screen: "the orange paddle, on the left"
    kind: SeatKind  # a person, an AI policy, nobody (the default action), or an API agent
    user: User | None = None  # kind "human"
    policy: Policy | None = None  # kind "policy"

    def __post_init__(self) -> None:
        if self.kind not in EpisodeSeat.Kind.values:
            raise ValueError(f"seat {self.index}: unknown kind {self.kind!r}")
        named = (self.user is not None, self.policy is not None)
        wanted = {
            "human": (True, False), "agent": (True, False), "policy": (False, True),
            "vacant": (False, False),
        }  # fmt: skip
        if named != wanted[self.kind]:
            raise ValueError(
                f"seat {self.index}: a {self.kind} seat names "
                + {
                    "human": "its user",
                    "agent": "its token's owner",
                    "policy": "its policy",
                    "vacant": "nobody",
                }[self.kind]
                + " and nothing else"
            )

    def seat(self, episode: Episode, from_step: int) -> EpisodeSeat:
        return EpisodeSeat(
            episode=episode,
            index=self.index,
            role=self.role,
            kind=self.kind,
            user=self.user,
            policy=self.policy,
            from_step=from_step,
        )


def _checked_seats(game: Game, seats: Sequence[SeatHolder]) -> list[SeatHolder]:
    ordered = sorted(seats, key=lambda holder: holder.index)
    if [holder.index for holder in ordered] != list(range(len(ordered))):
        indices = [holder.index for holder in seats]
        raise ValueError(f"seats are numbered 0, 1, … once each, not {indices}")
    if is_multi_seat(game.env_id):
        from games.engine.boards import seated_game

        wanted = seated_game(multi_seat_name(game.env_id)).seats
    else:
        wanted = 1
    if len(ordered) != wanted:
        raise ValueError(f"{game.title} has {wanted} seats, not {len(ordered)}")
    return ordered


def episode_start(
    *,
    user: User,
    game: Game,
    seed: int,
    frame_shape: list[int],
    pixel_format: str,
    seats: Sequence[SeatHolder] | None = None,
    context: dict[str, Any] | None = None,
    env_spec: dict[str, Any] | None = None,
) -> Episode:
    """A new episode and its seats; ``seats`` None: one seat, ``user``'s (one-player games).
    ``context``: what it is played for (``Episode.context``). ``env_spec``: the environment
    as it was played, when the match changed the game's (an agent's options: frameskip,
    mode, sticky actions); replay verification rebuilds exactly it.

    With ``seats`` (one per seat of the game), the episode's ``user`` is the person in the
    lowest-numbered human seat (seat 1 when seat 0 is an AI); ``user`` (who started the
    episode) only when no person holds a seat. Everyone else who held a seat finds the
    episode through its seats (``Episode.objects.for_player``).
    """
    holders = (
        [SeatHolder(index=0, kind="human", user=user)]
        if seats is None
        else _checked_seats(game, seats)
    )
    owner = next((h.user for h in holders if h.user is not None), user)
    with transaction.atomic():
        episode = Episode.objects.create(
            user=owner,
            game=game,
            seed=seed,
            env_spec=env_spec or game.env_spec(),
            versions=library_versions(),
            frame_shape=frame_shape,
            pixel_format=pixel_format,
            context=context or {},
        )
        EpisodeSeat.objects.bulk_create(holder.seat(episode, 0) for holder in holders)
    return episode


def seat_taken(
    *,
    episode_id: str,
    index: int,
    kind: SeatKind,
    user: User | None = None,
    policy: Policy | None = None,
    role: str = "",
    from_step: int,
) -> EpisodeSeat:
    """Seat ``index`` changed hands: its new holder plays it from step ``from_step`` on.

    The first step the new holder's action is recorded for (its ``SeatsRecord.holders``
    entry) is ``from_step``. Safe to call twice: the row for (episode, seat, step) is made
    once; a different holder for the same seat and step is refused (ValueError). ``role``
    left empty keeps the seat's role.
    """
    holder = SeatHolder(index=index, role=role, kind=kind, user=user, policy=policy)
    before = (
        EpisodeSeat.objects.filter(episode_id=episode_id, index=index, from_step__lte=from_step)
        .order_by("-from_step")
        .first()
    )
    if before is None:
        raise ValueError(f"episode {episode_id} has no seat {index} before step {from_step}")
    seat, _ = EpisodeSeat.objects.get_or_create(
        episode_id=episode_id,
        index=index,
        from_step=from_step,
        defaults={
            "role": role or before.role,
            "kind": kind,
            "user": user,
            "policy": policy,
        },
    )
    taken_by = (seat.kind, seat.user_id, seat.policy_id)
    if taken_by != (holder.kind, getattr(user, "pk", None), getattr(policy, "pk", None)):
        raise ValueError(
            f"seat {index} of episode {episode_id} was taken at step {from_step} by {seat}"
        )
    return seat


def chunks_enqueue(*, items: list[tuple[str, int, bytes]]) -> None:
    """Hand chunks to the workers: one Redis round trip and one task for the whole batch.

    Called from the web process, outside any transaction.
    """
    from .tasks import store_chunks

    transfer.put_many(items)
    store_chunks.delay([[episode_id, index] for episode_id, index, _ in items])
    counters.count("chunks_queued", len(items))


def episode_end(
    *,
    episode_id: str,
    reason: str,
    steps: int,
    chunks: int,
    pauses: list[dict[str, Any]] | None = None,
) -> None:
    """The live session is over; the workers take it from here.

    ``pauses`` are the times play stood still (docs/recording.md#pauses).
    """
    from .tasks import finalise_episode

    with transaction.atomic():
        updated = Episode.objects.filter(pk=episode_id, status=Episode.Status.ACTIVE).update(
            status=Episode.Status.FINALISING,
            end_reason=reason,
            steps=steps,
            chunks_expected=chunks,
            pauses=pauses or [],
            ended_at=timezone.now(),
        )
        if updated == 1:
            transaction.on_commit(lambda: finalise_episode.delay(episode_id))


def episode_discard(*, episode_id: str) -> bool:
    """An episode that ended before its first step (its page went, or it was taken over)
    leaves no row: there is nothing in it to study. True when it was deleted."""
    deleted, _ = Episode.objects.filter(
        pk=episode_id, status=Episode.Status.ACTIVE, steps=0, chunks__isnull=True
    ).delete()
    return deleted > 0


def user_active_episodes(*, user_id: int, game_id: int) -> list[str]:
    """The player's episodes of that game still being played on some web process."""
    return [
        str(pk)
        for pk in Episode.objects.filter(
            user_id=user_id, game_id=game_id, status=Episode.Status.ACTIVE
        ).values_list("pk", flat=True)
    ]


def episodes_beat(*, episode_ids: list[str]) -> int:
    """A web process's live episodes are alive: one UPDATE for all of them."""
    if not episode_ids:
        return 0
    return Episode.objects.filter(pk__in=episode_ids, status=Episode.Status.ACTIVE).update(
        heartbeat_at=timezone.now()
    )


def episodes_reap(*, silent_for: timedelta) -> list[str]:
    """End every episode whose live session died; returns the ids ended."""
    silent_since = timezone.now() - silent_for
    ended = []
    for episode_id in Episode.objects.lost(silent_since=silent_since).values_list("pk", flat=True):
        if episode_interrupt(episode_id=str(episode_id), silent_since=silent_since):
            ended.append(str(episode_id))
    return ended


def episode_interrupt(*, episode_id: str, silent_since: datetime) -> bool:
    """End an episode whose live session died, keeping every step that reached storage.

    Chunks still waiting in Redis are stored first. The claim is a conditional UPDATE that
    re-checks the silence, so a session that beat meanwhile, or another watchdog run, wins
    and this one changes nothing (returns False).
    """
    waiting = transfer.waiting(episode_id)
    if waiting:
        try:
            chunks_store(refs=[(episode_id, index) for index in waiting])
        except ChunkMissing:
            log.warning("a chunk of %s expired while the watchdog stored it", episode_id)
    stored = Chunk.objects.filter(episode_id=episode_id).aggregate(
        chunks=Count("pk"), steps=Sum("n_steps")
    )
    with transaction.atomic():
        claimed = (
            Episode.objects.lost(silent_since=silent_since)
            .filter(pk=episode_id)
            .update(
                status=Episode.Status.FINALISING,
                end_reason=Episode.EndReason.INTERRUPTED,
                steps=stored["steps"] or 0,
                chunks_expected=stored["chunks"],
                ended_at=timezone.now(),
            )
        )
        if claimed == 1:
            from .tasks import finalise_episode

            transaction.on_commit(lambda: finalise_episode.delay(episode_id))
    if claimed == 1:
        log.warning("episode %s lost its live session; ended as interrupted", episode_id)
    return claimed == 1


def chunk_path(episode_id: str, index: int) -> str:
    return f"episodes/{episode_id}/chunk-{index:06d}.arch"


ChunkRef = tuple[str, int]

TRANSITION_COLUMNS = (
    "episode_id",
    "step",
    "action",
    "reward",
    "terminated",
    "truncated",
    "info",
    "obs_chunk_id",
    "obs_index",
    "input_seq",
    "client_frame",
    "t_shown",
    "t_key",
    "t_received",
    "t_step",
    "seats",
)


def _transition_rows(episode_id: str, chunk_id: int, header: ChunkHeader) -> list[tuple[Any, ...]]:
    steps = header["steps"]
    first = header["first_step"]
    return [
        (
            episode_id,
            first + i,
            steps["action"][i],
            steps["reward"][i],
            steps["terminated"][i],
            steps["truncated"][i],
            steps["info"][i],
            chunk_id,
            i,
            steps["input_seq"][i],
            steps["client_frame"][i],
            steps["t_shown"][i],
            steps["t_key"][i],
            steps["t_received"][i],
            steps["t_step"][i],
            stepcolumns.step_seats(steps, i),
        )
        for i in range(header["n_steps"])
    ]


def _insert_transitions(rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL (an order of magnitude cheaper than INSERT); bulk_create elsewhere."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        columns = ", ".join(TRANSITION_COLUMNS)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {Transition._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                seats = None if row[15] is None else json.dumps(row[15])
                copy.write_row((*row[:6], json.dumps(row[6]), *row[7:15], seats))
        return
    Transition.objects.bulk_create(
        (Transition(**dict(zip(TRANSITION_COLUMNS, row, strict=True))) for row in rows),
        batch_size=500,
    )


def _chunk_row(episode_id: str, index: int, header: ChunkHeader, name: str, size: int) -> Chunk:
    return Chunk(
        episode_id=episode_id,
        index=index,
        first_frame=header["first_frame"],
        n_frames=header["n_frames"],
        n_steps=header["n_steps"],
        keyframe=header["keyframe"],
        file=name,
        size=size,
    )


def _save_blob(episode_id: str, index: int, blob: bytes) -> str:
    path = chunk_path(episode_id, index)
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(blob))


def chunks_store(*, refs: list[ChunkRef]) -> None:
    """Write chunks to storage and insert their transitions; safe to run twice.

    The whole batch goes in one transaction; if another worker stored any of its chunks
    meanwhile, each chunk is stored on its own instead.
    """
    episode_ids = {episode_id for episode_id, _ in refs}
    done = set(Chunk.objects.filter(episode_id__in=episode_ids).values_list("episode_id", "index"))
    known = {
        str(pk) for pk in Episode.objects.filter(pk__in=episode_ids).values_list("pk", flat=True)
    }
    todo = [(e, i) for e, i in refs if (uuid.UUID(e), i) not in done and e in known]
    for episode_id, index in refs:
        if episode_id not in known:
            log.warning("chunk %s of unknown episode %s dropped", index, episode_id)
    blobs = transfer.get_many(todo)
    missing = [ref for ref, blob in zip(todo, blobs, strict=True) if blob is None]
    present = [(ref, blob) for ref, blob in zip(todo, blobs, strict=True) if blob is not None]
    headers = [chunkfile.read_header(blob) for _, blob in present]
    names = [_save_blob(e, i, blob) for (e, i), blob in present]
    try:
        with transaction.atomic():
            chunks = Chunk.objects.bulk_create(
                _chunk_row(episode_id, index, header, name, len(blob))
                for ((episode_id, index), blob), header, name in zip(
                    present, headers, names, strict=True
                )
            )
            rows = [
                row
                for chunk, ((episode_id, _), _), header in zip(
                    chunks, present, headers, strict=True
                )
                for row in _transition_rows(episode_id, chunk.pk, header)
            ]
            _insert_transitions(rows)
        counters.count("chunks_written", len(chunks))
    except IntegrityError:
        for episode_id, index in todo:
            if (episode_id, index) not in missing:
                chunk_store(episode_id=episode_id, index=index)
    transfer.discard_many(
        [ref for ref, _ in present] + [(e, i) for e, i in refs if (uuid.UUID(e), i) in done]
    )
    verification.episodes_verify_soon(stored=[ref for ref, _ in present])
    if missing:
        raise ChunkMissing(f"not in Redis: {missing}")


def chunk_store(*, episode_id: str, index: int) -> None:
    """Store one chunk on its own; safe to run twice."""
    if Chunk.objects.filter(episode_id=episode_id, index=index).exists():
        transfer.discard(episode_id, index)
        return
    if not Episode.objects.filter(pk=episode_id).exists():
        log.warning("chunk %s of unknown episode %s dropped", index, episode_id)
        return
    blob = transfer.get(episode_id, index)
    if blob is None:
        raise ChunkMissing(f"chunk {index} of episode {episode_id} is not in Redis")
    header = chunkfile.read_header(blob)
    name = _save_blob(episode_id, index, blob)
    try:
        with transaction.atomic():
            chunk = _chunk_row(episode_id, index, header, name, len(blob))
            chunk.save(force_insert=True)
            _insert_transitions(_transition_rows(episode_id, chunk.pk, header))
        counters.count("chunks_written")
    except IntegrityError:
        # Another worker stored this chunk between our check and our insert.
        log.info("chunk %s of %s was stored concurrently", index, episode_id)
    transfer.discard(episode_id, index)


def episode_audit(episode: Episode) -> str:
    """Why the stored data does not add up, or '' when transitions, steps and frames agree."""
    chunks = list(
        episode.chunks.order_by("index").values("index", "first_frame", "n_frames", "n_steps")
    )
    if len(chunks) != episode.chunks_expected:
        return f"{len(chunks)} of {episode.chunks_expected} chunks stored"
    expected_first = 0
    for chunk in chunks:
        if chunk["first_frame"] != expected_first:
            return (
                f"chunk {chunk['index']} starts at frame {chunk['first_frame']}, "
                f"expected {expected_first}"
            )
        expected_first += chunk["n_steps"]
    frames = sum(c["n_frames"] for c in chunks)
    if frames != episode.frames:
        return f"{frames} frames stored for {episode.steps} steps (expected {episode.frames})"
    agg = episode.transitions.aggregate(n=Max("step"), lo=Min("step"))
    count = episode.transitions.count()
    if count != episode.steps:
        return f"{count} transitions stored for {episode.steps} steps"
    if count and (agg["lo"] != 0 or agg["n"] != episode.steps - 1):
        return (
            f"transition steps run from {agg['lo']} to {agg['n']}, "
            f"expected 0 to {episode.steps - 1}"
        )
    return ""


def _seat_returns(episode: Episode) -> list[float] | None:
    """Each seat's return of a game of several seats (its transitions' ``seats.rewards``)."""
    seats = episode.seats.aggregate(n=Max("index"))["n"]
    if not episode.is_multi_seat or seats is None:
        return None
    sums = episode.transitions.aggregate(
        **{
            f"seat_{k}": Sum(Cast(KT(f"seats__rewards__{k}"), FloatField()))
            for k in range(seats + 1)
        }
    )
    return [float(sums[f"seat_{k}"] or 0.0) for k in range(seats + 1)]


def episode_finalise(
    *, episode_id: str, give_up: bool = False, patience: timedelta | None = None
) -> None:
    """Check the episode's data and close it; idempotent (only a finalising episode changes).

    While chunks are missing it raises ChunksPending (the task tries again), until ``give_up``
    or until ``patience`` has passed since the episode ended; then it closes the episode with
    what arrived, as incomplete.
    """
    episode = Episode.objects.filter(pk=episode_id, status=Episode.Status.FINALISING).first()
    if episode is None:
        # Finalised already: a run that died after closing it still owes the replay verdict.
        verification.episode_verify(episode_id=episode_id)
        episode_notify_player(episode_id=episode_id)
        return
    stored = episode.chunks.count()
    if patience is not None and episode.ended_at is not None:
        give_up = give_up or timezone.now() - episode.ended_at > patience
    if stored < (episode.chunks_expected or 0) and not give_up:
        raise ChunksPending(f"{stored} of {episode.chunks_expected} chunks stored")
    problem = episode_audit(episode)
    if not problem and episode.end_reason == Episode.EndReason.INTERRUPTED:
        # Whole as far as it goes, but it has no last observation and may have lost the
        # second of play that had not left the web process.
        problem = (
            f"interrupted: the live session was lost after step {episode.steps}; the steps "
            "up to it are stored, the last observation and anything after it are not"
        )
    total = episode.transitions.aggregate(total=Sum("reward"))["total"] or 0.0
    Episode.objects.filter(pk=episode_id, status=Episode.Status.FINALISING).update(
        status=Episode.Status.INCOMPLETE if problem else Episode.Status.COMPLETE,
        integrity_error=problem,
        total_return=total,
        seat_returns=_seat_returns(episode),
        finalised_at=timezone.now(),
    )
    if problem:
        log.warning("episode %s is incomplete: %s", episode_id, problem)
    # The replay check ends finalisation; incremental passes while it was played left only the
    # tail (see recording/verification.py).
    verification.episode_verify(episode_id=episode_id)
    episode_notify_player(episode_id=episode_id)


def episode_notify_player(*, episode_id: str) -> None:
    """Tell the player's open pages, on any web process, that the episode is saved and checked.

    A courtesy: no open page, or a page on a process that died, loses nothing (My episodes
    shows the same), and a failed send never fails the task that stored the episode.
    """
    episode = (
        Episode.objects.filter(pk=episode_id)
        .only("user_id", "status", "verification", "steps")
        .first()
    )
    if episode is None:
        return
    notices.notify_player(
        user_id=episode.user_id,
        notice=notices.EpisodeFinalised(
            type="episode.finalised",
            episode=str(episode.pk),
            status=episode.status,
            verification=episode.verification,
            steps=episode.steps,
        ),
    )
