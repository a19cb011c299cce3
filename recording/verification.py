"""Replay verification: each episode replayed from its seed and actions, every frame compared.

The chunk is the one source of truth for each step's data, and what the exports publish
(``recording.frames``). So the replay (games/engine/replay.py) steps the same machine the live
loop stepped, from the episode's env spec and seed, with the actions of the chunks' step
columns; every replayed frame must equal the stored one, and every step's reward,
``terminated`` and the ``info`` the exports read (``lives``, sticky actions' ``applied``) the
stored ones. The Transition rows, which the workers copied from the chunks, must agree with
them: one a step, with the same action, reward, ``terminated`` and ``truncated``. The first
difference makes the episode a ``mismatch``, with the step (or frame) and the field named. An
episode whose replay cannot run (unknown env, chunk not stored, unreadable object) is
``failed`` with the reason: nothing passes unchecked.

ALE episodes are verified while they are played: every ``VERIFY_EVERY_CHUNKS`` stored chunks a
task on the ``verify`` queue replays the new chunks and leaves a checkpoint (the emulator state
with its RNG, and the last frame, which the next chunk's XOR coding needs) in Redis, so
finalisation only replays the tail. Other envs cannot be checkpointed and are replayed whole at
finalisation (Tower of Hanoi episodes are short). Finalisation concludes: verified, mismatch or
failed. An interrupted episode (its live session lost, no final chunk) is verified when every
step it stored replayed identically: the verdict is about what is stored.

A multi-seat episode (env id ``multi/<name>``) is replayed the same way with
games/engine/multireplay.py, from the seed and each step's joint action (the chunks'
``seat_actions``), from ``MultiAtariMachine.start(seed, None)``: the live match starts it so,
or from ``multi_start_state(name, seed)``, which is the same state made in a helper process.
Every seat's reward is compared, and ``truncated`` with the replay's (or the game's step
limit); the Transition rows' per-seat values with the chunks'; and, once the whole episode has
replayed, every step's seat holders with the episode's ``EpisodeSeat`` rows.

Two workers may replay the same chunks (a finalisation and a late incremental task); each
commits its progress with a conditional UPDATE on ``verified_steps`` and, when it updated no
row, the other got there first: it reloads and carries on from there. Replays are
deterministic, so both computed the same thing.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, cast

import numpy as np
import zstandard
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from games.engine import replay
from games.engine.machines import STICKY_ACTIONS, Outcome, sticky_probability
from games.engine.multiplayer import MultiOutcome
from games.engine.multireplay import MultiCheckpoint, MultiReplayer
from games.engine.registry import is_atari, is_board, is_multi_seat, multi_seat_name
from games.engine.replay import Checkpoint, Replayer, ReplayError

from . import chunkfile, stepcolumns, transfer
from .chunkfile import ChunkHeader
from .models import Chunk, Episode, EpisodeSeat, Transition
from .recorder import HOLDER_VACANT, holder_of_policy, holder_of_user

log = logging.getLogger(__name__)

CHECKPOINT_TTL_SECONDS = 6 * 3600
_FINALISED = (Episode.Status.COMPLETE, Episode.Status.INCOMPLETE)
_V = Episode.Verification


class _Failed(Exception):
    """The replay cannot go on; the message says why."""


@dataclass
class _Finding:
    """The first difference between the replay and the stored episode."""

    step: int  # steps [0, step) matched
    detail: str
    by_replay: bool = True  # False: the stored rows disagree, whatever the library versions


def checkpoint_key(episode_id: str, number: int) -> str:
    return f"arcade:replay:{episode_id}:{number}"


AnyReplayer = Replayer | MultiReplayer
AnyCheckpoint = Checkpoint | MultiCheckpoint


def _save_checkpoint(episode_id: str, checkpoint: AnyCheckpoint, previous: np.ndarray) -> None:
    state = checkpoint.to_bytes()
    blob = struct.pack("<I", len(state)) + state + zstandard.compress(previous.tobytes(), 1)
    key = checkpoint_key(episode_id, checkpoint.number)
    transfer.client().set(key, blob, ex=CHECKPOINT_TTL_SECONDS)


def _load_checkpoint(
    episode_id: str, number: int, *, multi: bool
) -> tuple[AnyCheckpoint, np.ndarray] | None:
    blob = transfer.client().get(checkpoint_key(episode_id, number))
    if blob is None:
        return None
    raw = bytes(blob)  # type: ignore[arg-type]
    (length,) = struct.unpack_from("<I", raw)
    checkpoint: AnyCheckpoint
    if multi:
        checkpoint = MultiCheckpoint.from_bytes(raw[4 : 4 + length])
        shape = checkpoint.snapshot.screen.shape
    else:
        checkpoint = Checkpoint.from_bytes(raw[4 : 4 + length])
        shape = checkpoint.screen.shape
    previous = np.frombuffer(zstandard.decompress(raw[4 + length :]), np.uint8)
    return checkpoint, previous.reshape(shape)


def _discard_checkpoints(episode_id: str, *numbers: int) -> None:
    keys = [checkpoint_key(episode_id, n) for n in numbers if n > 0]
    if keys:
        transfer.client().delete(*keys)


# A Transition row's copy of the chunk's columns: (action, reward, terminated, truncated,
# seats), ``seats`` the per-seat values of a multi-seat step (stepcolumns.step_seats).
Row = tuple[int, float, bool, bool, dict[str, list[Any]] | None]
_ROW_FIELDS = ("action", "reward", "terminated", "truncated", "seats")
# What the exports publish from ``info`` (docs/datasets.md), held to the replay's.
INFO_CHECKED = ("lives", "applied")


def _transitions(episode_id: str, start: int) -> dict[int, Row]:
    """The episode's Transition rows from step ``start`` on, by step."""
    rows = (
        Transition.objects.filter(episode_id=episode_id, step__gte=start)
        .order_by("step")
        .values_list("step", *_ROW_FIELDS)
    )
    return {
        step: (action, reward, terminated, truncated, seats)
        for step, action, reward, terminated, truncated, seats in rows
    }


def _transition_finding(header: ChunkHeader, rows: dict[int, Row]) -> _Finding | None:
    """The first step of the chunk whose Transition row is missing or differs from the
    chunk's columns, naming the field."""
    steps = header["steps"]
    first = header["first_step"]
    for i, chunk_row in enumerate(
        zip(
            steps["action"],
            steps["reward"],
            steps["terminated"],
            steps["truncated"],
            (stepcolumns.step_seats(steps, i) for i in range(header["n_steps"])),
            strict=True,
        )
    ):
        step = first + i
        row = rows.get(step)
        if row is None:
            detail = f"step {step} is in chunk {header['index']} but has no transition row"
            return _Finding(step, detail, by_replay=False)
        for name, stored, copied in zip(_ROW_FIELDS, chunk_row, row, strict=True):
            if stored != copied:
                return _Finding(
                    step,
                    f"the transition row of step {step} differs from its chunk: {name} "
                    f"{copied!r} in the row, {stored!r} in chunk {header['index']}",
                    by_replay=False,
                )
    return None


def _is_multi(episode: Episode) -> bool:
    env_id = (episode.env_spec or {}).get("env_id")
    return isinstance(env_id, str) and is_multi_seat(env_id)


def _resumable(episode: Episode) -> bool:
    spec = episode.env_spec or {}
    env_id, kwargs = spec.get("env_id"), spec.get("env_kwargs", {})
    if isinstance(env_id, str) and is_multi_seat(env_id):
        # A multi-seat Atari replay always checkpoints; a board game's is replayed whole.
        return not is_board(env_id)
    if not isinstance(env_id, str) or not is_atari(env_id) or not isinstance(kwargs, dict):
        return False
    try:
        return replay.resumable(env_id, kwargs)
    except ReplayError:
        return True  # the pass will find out, and say so


def _replayer(
    env_id: str, kwargs: dict[str, Any], seed: int, resume: AnyCheckpoint | None = None
) -> AnyReplayer:
    """The replayer of the live loop's machine for ``env_id``, from the seed or ``resume``."""
    if is_multi_seat(env_id):
        if resume is not None and not isinstance(resume, MultiCheckpoint):
            raise _Failed("a one-seat checkpoint cannot resume a multi-seat replay")
        return MultiReplayer(multi_seat_name(env_id), kwargs, seed, resume=resume)
    if resume is not None and not isinstance(resume, Checkpoint):
        raise _Failed("a multi-seat checkpoint cannot resume a one-seat replay")
    return Replayer(env_id, kwargs, seed, resume=resume)


def _resume(episode: Episode, start: int) -> tuple[AnyReplayer, np.ndarray | None]:
    """A replayer at frame ``start`` and frame ``start - 1`` (the next chunk's XOR base)."""
    spec = episode.env_spec or {}
    env_id, kwargs = spec.get("env_id"), spec.get("env_kwargs", {})
    if not isinstance(env_id, str) or not isinstance(kwargs, dict):
        raise _Failed("the episode has no env spec (env id and kwargs) to replay from")
    multi = is_multi_seat(env_id)
    if not multi:
        _refuse_sticky_by_ale(episode, env_id, kwargs)
    resumable = start and (
        (multi and not is_board(env_id)) or (not multi and replay.resumable(env_id, kwargs))
    )
    saved = _load_checkpoint(str(episode.pk), start, multi=multi) if resumable else None
    if saved is not None:
        return _replayer(env_id, kwargs, episode.seed, saved[0]), saved[1]
    # No checkpoint (expired, or an env that cannot make one): replay the verified steps again.
    actions = _actions_before(episode, start)
    replayer = _replayer(env_id, kwargs, episode.seed)
    previous = None
    try:
        for action in actions:
            previous = replayer.frame.copy()
            _step(replayer, action)
    except BaseException:
        replayer.close()
        raise
    return replayer, previous


Action = int | list[int]  # a step's action, or a multi-seat step's joint action


def _step(replayer: AnyReplayer, action: Action) -> Outcome | MultiOutcome:
    if isinstance(replayer, MultiReplayer):
        assert isinstance(action, list)
        return replayer.step(action)
    assert isinstance(action, int)
    return replayer.step(action)


def _actions(header: ChunkHeader, *, multi: bool) -> list[Action]:
    """The chunk's actions to replay: the joint actions of a multi-seat episode."""
    steps = header["steps"]
    if not multi:
        return list(steps["action"])
    joint = steps["seat_actions"]
    for i, actions in enumerate(joint):
        if actions is None:
            raise _Failed(
                f"step {header['first_step'] + i} of a multi-seat episode has no joint action "
                f"(chunk {header['index']} holds no per-seat columns)"
            )
    return list(cast(list[list[int]], joint))


def _actions_before(episode: Episode, start: int) -> list[Action]:
    """The actions of steps [0, start), from the chunks' step columns (headers only)."""
    multi = _is_multi(episode)
    actions: list[Action] = []
    for chunk in episode.chunks.filter(first_frame__lt=start).order_by("index"):
        if chunk.first_frame != len(actions):
            raise _Failed(f"no stored chunk starts at frame {len(actions)}")
        actions.extend(_actions(_read_header(chunk), multi=multi))
    if len(actions) < start:
        raise _Failed(f"no stored chunk starts at frame {len(actions)}")
    return actions[:start]


def _refuse_sticky_by_ale(episode: Episode, env_id: str, kwargs: dict[str, Any]) -> None:
    """Sticky actions drawn by ALE (before Arcade drew them itself) cannot be replayed here."""
    if not is_atari(env_id) or (episode.versions or {}).get("sticky_actions") == STICKY_ACTIONS:
        return
    try:
        sticky = sticky_probability(env_id, kwargs)
    except Exception as exc:  # gymnasium raises many kinds for an unknown id
        raise _Failed(f"cannot build {env_id}: {exc}") from exc
    if sticky > 0:
        raise _Failed(
            "recorded while ALE drew the sticky actions from its own RNG, which Arcade's "
            "replay no longer does; the frames and actions are stored but cannot be "
            "replay-verified"
        )


def _read_chunk(chunk: Chunk, previous: np.ndarray | None) -> tuple[ChunkHeader, np.ndarray]:
    try:
        with default_storage.open(str(chunk.file.name), "rb") as handle:
            blob = handle.read()
        header, frames = chunkfile.decode(blob, previous)
    except (OSError, ValueError, zstandard.ZstdError) as exc:
        raise _Failed(f"chunk {chunk.index} cannot be read: {exc}") from exc
    if header["n_steps"] != chunk.n_steps or header["first_step"] != chunk.first_frame:
        raise _Failed(f"chunk {chunk.index}'s header does not match its row")
    return header, frames


def _read_header(chunk: Chunk) -> ChunkHeader:
    try:
        with default_storage.open(str(chunk.file.name), "rb") as handle:
            return chunkfile.read_header(handle.read())
    except (OSError, ValueError, zstandard.ZstdError) as exc:
        raise _Failed(f"chunk {chunk.index} cannot be read: {exc}") from exc


def _first_difference(stored: np.ndarray, replayed: np.ndarray) -> tuple[int, str] | None:
    """(index of the first differing frame, where its first differing pixel is), or None."""
    if np.array_equal(stored, replayed):
        return None
    differs = (stored != replayed).reshape(len(stored), -1).any(axis=1)
    index = int(np.flatnonzero(differs)[0])
    row, col = (int(v) for v in np.argwhere(stored[index] != replayed[index])[0][:2])
    return index, f"first differing pixel at row {row}, col {col}"


def _shown(frames: np.ndarray) -> np.ndarray:
    """Which of the 256 palette indices the frames show: those of the first frame and of the
    8-byte words that changed from frame to frame (0.2 ms a chunk; counting every pixel of
    60 frames takes 3)."""
    flat = frames.reshape(len(frames), -1)
    if flat.shape[1] % 8:
        return np.bincount(flat.reshape(-1), minlength=256) > 0
    words = flat.view(np.uint64)
    values = np.concatenate([words[0], words[1:][words[1:] != words[:-1]]])
    return np.bincount(values.view(np.uint8), minlength=256) > 0


def _palette_finding(header: ChunkHeader, frames: np.ndarray) -> _Finding | None:
    """The first frame showing a palette index the chunk's palette does not name (indexed
    frames): its RGB could not be rebuilt."""
    if header["pixel_format"] != "indexed":
        return None
    named = np.zeros(256, bool)
    named[[int(entry[0]) for entry in header["palette"] or []]] = True
    unnamed = np.flatnonzero(_shown(frames) & ~named)
    if unnamed.size == 0:
        return None
    showing = np.isin(frames, unnamed).reshape(len(frames), -1).any(axis=1)
    number = int(header["first_frame"]) + int(np.flatnonzero(showing)[0])
    return _Finding(
        max(number - 1, 0),
        f"frame {number} shows palette indices {unnamed.tolist()}, which the chunk's palette "
        "does not name (its RGB cannot be rebuilt)",
    )


def _check_chunk(
    replayer: AnyReplayer,
    header: ChunkHeader,
    frames: np.ndarray,
    rows: dict[int, Row],
    *,
    max_steps: int | None = None,
) -> _Finding | None:
    """Step through one chunk's steps with its actions, comparing frames, rewards, ends of
    episode and the info the exports read; and its Transition rows with its columns.

    A multi-seat chunk is stepped with its joint actions, and every seat's reward and
    ``truncated`` are compared too (``max_steps``: the game's step limit, which the live loop
    truncates at whatever the machine says)."""
    first = int(header["first_frame"])
    if frames.shape[1:] != replayer.frame.shape:
        return _Finding(
            first,
            f"frame {first} has shape {list(frames.shape[1:])}, the replay "
            f"{list(replayer.frame.shape)}",
        )
    steps = header["steps"]
    multi = isinstance(replayer, MultiReplayer)
    replayed = np.empty_like(frames)
    replayed[0] = replayer.frame
    step_finding = None
    for i, action in enumerate(_actions(header, multi=multi)):
        outcome = _step(replayer, action)
        if i + 1 < len(frames):
            replayed[i + 1] = replayer.frame
        if step_finding is None:
            step = first + i
            reward, terminated, info = steps["reward"][i], steps["terminated"][i], steps["info"][i]
            if isinstance(outcome, MultiOutcome):
                step_finding = _seats_finding(step, steps, i, outcome, max_steps)
                seat_0 = Outcome(outcome.rewards[0], outcome.terminated, False, 0, outcome.info)
                step_finding = step_finding or _step_finding(step, reward, terminated, info, seat_0)
            else:
                step_finding = _step_finding(step, reward, terminated, info, outcome)
    difference = _first_difference(frames, replayed)
    frame_finding = None
    if difference is not None:
        number = first + difference[0]
        frame_finding = _Finding(
            max(number - 1, 0), f"frame {number} differs from the replay ({difference[1]})"
        )
    found = [
        f
        for f in (
            frame_finding,
            step_finding,
            _palette_finding(header, frames),
            _transition_finding(header, rows),
        )
        if f is not None
    ]
    return min(found, key=lambda f: f.step) if found else None


def _step_finding(
    step: int, reward: float, terminated: bool, info: dict[str, Any], outcome: Outcome
) -> _Finding | None:
    if (outcome.reward, outcome.terminated) != (reward, terminated):
        return _Finding(
            step,
            f"step {step} differs from the replay: stored reward {reward} and terminated "
            f"{terminated}, replayed {outcome.reward} and {outcome.terminated}",
        )
    stored = info if isinstance(info, dict) else {}
    for name in INFO_CHECKED:
        if name in outcome.info and stored.get(name) != outcome.info[name]:
            return _Finding(
                step,
                f"step {step} differs from the replay: stored {name} {stored.get(name)!r}, "
                f"replayed {outcome.info[name]!r}",
            )
    return None


def _seats_finding(
    step: int, steps: stepcolumns.StepColumns, i: int, outcome: MultiOutcome, max_steps: int | None
) -> _Finding | None:
    """A multi-seat step's per-seat rewards and its ``truncated`` against the replay's."""
    rewards = steps["seat_rewards"][i]
    if rewards != outcome.rewards:
        return _Finding(
            step,
            f"step {step} differs from the replay: stored seat rewards {rewards}, replayed "
            f"{outcome.rewards}",
        )
    truncated = outcome.truncated or (max_steps is not None and step + 1 >= max_steps)
    if steps["truncated"][i] != truncated:
        return _Finding(
            step,
            f"step {step} differs from the replay: stored truncated {steps['truncated'][i]}, "
            f"replayed {truncated}",
        )
    return None


def _holder(seat: EpisodeSeat) -> str:
    if seat.user_id is not None:
        return holder_of_user(seat.user_id)
    if seat.policy_id is not None:
        return holder_of_policy(seat.policy_id)
    return HOLDER_VACANT


def _holders_finding(episode: Episode) -> _Finding | None:
    """The first step whose recorded seat holders are not those the episode's seats name
    (each seat's ``EpisodeSeat`` row with the largest ``from_step`` not after the step)."""
    by_seat: dict[int, list[tuple[int, str]]] = {}
    for seat in EpisodeSeat.objects.filter(episode=episode).order_by("index", "from_step"):
        by_seat.setdefault(seat.index, []).append((seat.from_step, _holder(seat)))
    n_seats = len(by_seat)
    rows = (
        Transition.objects.filter(episode=episode, seats__isnull=False)
        .order_by("step")
        .values_list("step", "seats")
    )
    for step, seats in rows.iterator(chunk_size=2000):
        recorded = list((seats or {}).get("holders") or [])
        expected = [
            next((h for start, h in reversed(by_seat[index]) if start <= step), "nobody")
            for index in range(n_seats)
        ]
        if recorded != expected:
            return _Finding(
                step,
                f"step {step} was recorded with seat holders {recorded}, but the episode's "
                f"seats name {expected}",
                by_replay=False,
            )
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _versions_note(episode: Episode) -> str:
    recorded = episode.versions or {}
    changed = [
        f"{name} {recorded.get(name)} recorded, {version(name)} replayed"
        for name in ("ale-py", "gymnasium")
        if recorded.get(name) != version(name)
    ]
    return f" ({'; '.join(changed)})" if changed else ""


def _conclude(episode: Episode, start: int, result: str, steps: int, detail: str) -> bool:
    """Write the verdict if nobody moved the episode on meanwhile; False when someone had."""
    updated = Episode.objects.filter(
        pk=episode.pk, verification=_V.PENDING, verified_steps=start
    ).update(
        verification=result,
        verification_detail=detail,
        verified_steps=steps,
        verified_at=timezone.now(),
    )
    _discard_checkpoints(str(episode.pk), start)
    if result != _V.VERIFIED:
        log.warning("episode %s replay verification %s: %s", episode.pk, result, detail)
    return updated == 1


def _contiguous_chunks(episode: Episode, start: int) -> list[Chunk]:
    """The stored chunks that continue from frame ``start`` without a gap, up to the final one."""
    chunks = (
        episode.chunks.filter(first_frame__gte=start)
        .order_by("index")
        .only("index", "first_frame", "n_frames", "n_steps", "file")
    )
    run: list[Chunk] = []
    for chunk in chunks:
        expected = run[-1].first_frame + run[-1].n_steps if run else start
        if chunk.first_frame != expected or (run and run[-1].n_frames > run[-1].n_steps):
            break
        run.append(chunk)
    return run


@dataclass
class _Reached:
    """Where a pass got to: a verdict, or progress to resume from next time."""

    end: int  # steps [0, end) replayed identically
    verdict: tuple[str, int, str] | None = None  # (verification, verified steps, detail)
    checkpoint: AnyCheckpoint | None = None
    previous: np.ndarray | None = None  # frame end - 1, the next chunk's XOR base


def _replay_chunks(episode: Episode, start: int, run: list[Chunk]) -> _Reached:
    """Replay the chunks from frame ``start`` and compare; stop at the first difference."""
    reached = _Reached(end=start)
    try:
        replayer, reached.previous = _resume(episode, start)
        try:
            rows = _transitions(str(episode.pk), start)
            for chunk in run:
                header, frames = _read_chunk(chunk, reached.previous)
                finding = _check_chunk(
                    replayer, header, frames, rows, max_steps=_max_steps(episode)
                )
                if finding is not None:
                    note = _versions_note(episode) if finding.by_replay else ""
                    detail = finding.detail + note
                    reached.verdict = (_V.MISMATCH, finding.step, detail)
                    return reached
                reached.end, reached.previous = chunk.first_frame + chunk.n_steps, frames[-1]
                if header["final"]:
                    end = reached.end
                    beyond = [step for step in rows if step >= end]
                    if beyond:
                        detail = (
                            f"step {min(beyond)} has a transition row, but the chunks end "
                            f"the episode after {_count(end, 'step')}"
                        )
                        reached.verdict = (_V.MISMATCH, end, detail)
                        return reached
                    detail = f"{_count(end, 'step')} and {_count(end + 1, 'frame')} replayed"
                    reached.verdict = (_V.VERIFIED, end, detail + " identically")
                    return reached
            reached.checkpoint = replayer.checkpoint()
        finally:
            replayer.close()
    except (_Failed, ReplayError) as exc:
        reached.verdict = (_V.FAILED, reached.end, str(exc))
    return reached


def _max_steps(episode: Episode) -> int | None:
    limit = (episode.env_spec or {}).get("max_steps")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _interrupted_and_all_replayed(episode: Episode, end: int) -> bool:
    """An interrupted episode has no final chunk: it is verified when every step it stored
    (the watchdog counted them) replayed identically, with no chunk left beyond a gap."""
    return (
        episode.end_reason == Episode.EndReason.INTERRUPTED
        and 0 < end == episode.steps
        and not episode.chunks.filter(first_frame__gte=end).exists()
    )


def _verify_pass(episode_id: str) -> bool:
    """Replay what is stored beyond the verified steps; False when another worker raced us."""
    episode = Episode.objects.filter(pk=episode_id, verification=_V.PENDING).first()
    if episode is None:
        return True
    final = episode.status in _FINALISED
    if not final and not _resumable(episode):
        return True  # no checkpoint to carry between passes: replayed whole at finalisation
    start = episode.verified_steps
    run = _contiguous_chunks(episode, start)
    if not run and not final:
        return True
    reached = _replay_chunks(episode, start, run)
    if reached.verdict is None and final and _interrupted_and_all_replayed(episode, reached.end):
        end = reached.end
        detail = (
            f"the {_count(end, 'stored step')} and {_count(end, 'stored frame')} replayed "
            "identically; the live session was lost after them, so nothing after them is stored"
        )
        reached.verdict = (_V.VERIFIED, end, detail)
    if reached.verdict is None and final:
        reason = (
            f"no stored chunk starts at frame {reached.end} ({episode.chunks.count()} of "
            f"{episode.chunks_expected} chunks stored); replay verified steps 0 to {reached.end}"
        )
        reached.verdict = (_V.FAILED, reached.end, reason)
    if reached.verdict is not None and reached.verdict[0] == _V.VERIFIED and _is_multi(episode):
        finding = _holders_finding(episode)
        if finding is not None:
            reached.verdict = (_V.MISMATCH, finding.step, finding.detail)
    if reached.verdict is not None:
        return _conclude(episode, start, *reached.verdict)
    if reached.checkpoint is not None and reached.previous is not None:
        _save_checkpoint(episode_id, reached.checkpoint, reached.previous)
    updated = Episode.objects.filter(
        pk=episode_id, verification=_V.PENDING, verified_steps=start
    ).update(verified_steps=reached.end)
    if updated != 1:
        # Lost the race. The winner may have saved the very same checkpoint key (replays are
        # deterministic, so the same bytes): leave it.
        return False
    _discard_checkpoints(episode_id, start)
    return True


def episode_verify(*, episode_id: str) -> None:
    """Replay-verify as far as the stored chunks go; a finalised episode gets its verdict.

    Idempotent: a verdict is final, and progress only moves forward.
    """
    for _ in range(5):
        if _verify_pass(episode_id):
            return
        log.info(
            "episode %s: another worker verified meanwhile; carrying on from there", episode_id
        )


def episodes_verify_soon(*, stored: list[tuple[str, int]]) -> None:
    """Queue a verification pass for episodes whose stored chunks just reached a multiple of
    ``VERIFY_EVERY_CHUNKS`` (called by the worker that stored them)."""
    from .tasks import verify_episodes

    every = settings.ARCADE["VERIFY_EVERY_CHUNKS"]
    due = sorted({episode_id for episode_id, index in stored if every and (index + 1) % every == 0})
    if due:
        transaction.on_commit(lambda: verify_episodes.delay(due))
