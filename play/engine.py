"""The process-wide pieces the live sessions share: the machine pool and its settings."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

from games.engine.pool import MachinePool

from . import hub
from .heartbeat import Heartbeat
from .match import LiveSettings, Match
from .metrics import Flusher
from .parking import ParkedSessions
from .shipping import ChunkShipper

T = TypeVar("T")

log = logging.getLogger(__name__)

# Set once start-up has built this process's machines and start states (/readyz asks).
prewarmed = threading.Event()


@functools.cache
def pool() -> MachinePool:
    return MachinePool(
        use_helper=bool(settings.ARCADE["SEED_IN_HELPER"]),
        stock=settings.ARCADE["START_STOCK"],
        host_cold_starts=bool(settings.ARCADE["HOST_COLD_STARTS"]),
        max_idle_hosted=settings.ARCADE["MAX_IDLE_HOSTED"],
        max_hosted=settings.ARCADE["MAX_HOSTED"],
    )


def _send_chunks(items: list[tuple[str, int, bytes]]) -> None:
    from recording.services import chunks_enqueue

    try:
        chunks_enqueue(items=items)
    finally:
        close_old_connections()  # eager tasks (tests) open connections in this pool thread


_finishing: set[asyncio.Future[Any]] = set()


async def finish(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if the awaiting consumer is cancelled: the server cancels
    a socket's consumer that takes long to go, and a leave or a stop cut halfway would leave a
    game playing with nobody to end it."""
    task = asyncio.ensure_future(work)
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    return await asyncio.shield(task)


@functools.cache
def shipper() -> ChunkShipper:
    return ChunkShipper(_send_chunks, interval=settings.ARCADE["SHIP_INTERVAL"])


def _beat(episode_ids: list[str]) -> None:
    from recording.services import episodes_beat

    try:
        episodes_beat(episode_ids=episode_ids)
        hub.keep(episode_ids)  # spectators and returning players still find them
    finally:
        close_old_connections()


@functools.cache
def heartbeat() -> Heartbeat:
    return Heartbeat(_beat, interval=settings.ARCADE["HEARTBEAT_SECONDS"], attended=attended)


def attended() -> set[str]:
    """The episodes of this process with a player: on a socket, paused for their player's
    return, or left without a socket for less than the grace."""
    grace = settings.ARCADE["RECONNECT_GRACE_SECONDS"]
    now = time.monotonic()
    ids = set()
    for session in list(_sessions):
        episode = session.episode
        if episode is None:
            continue
        if (
            session.transport.attached
            or parked().holds(episode.id)
            or now - _detached_at.get(session, now) < grace
        ):
            ids.add(episode.id)
    return (
        ids
        | programs_episodes()
        | {match.episode.id for match in list(_rooms) if match.episode is not None}
    )


# The matches programs hold (the agent API, ``agents/``): attended while their session is open
# (it ends them itself), and counted apart from people's games: an agent never takes a
# person's place on a process (``Seats``), it has its own budget (ARCADE["AGENT_SESSIONS"]).
_programs: weakref.WeakSet[Match] = weakref.WeakSet()


def hosting_program(session: Match) -> None:
    _programs.add(session)


# The matches of rooms (``play/lobby.py``), several seats each: attended while their room is
# open, as it ends them itself (a player who went has the grace, then the game's on_leave).
_rooms: weakref.WeakSet[Match] = weakref.WeakSet()


def hosting_room(match: Match) -> None:
    _rooms.add(match)


def programs_episodes() -> set[str]:
    return {match.episode.id for match in list(_programs) if match.episode is not None}


# The sessions of this process's open sockets and their players, for a shutdown that ends none
# of them abruptly.
_sockets: weakref.WeakKeyDictionary[Match, int] = weakref.WeakKeyDictionary()
# Every session that ever had a socket here and may still hold an episode: the sweeper's
# round. Strong references: an orphaned game is exactly one nothing else points to any more.
_sessions: set[Match] = set()
_detached_at: weakref.WeakKeyDictionary[Match, float] = weakref.WeakKeyDictionary()


def hosting(session: Match, *, user_id: int) -> None:
    """A socket of ``user_id`` opened on this process with ``session`` (``let_go`` undoes it)."""
    _sockets[session] = user_id
    _sessions.add(session)
    _detached_at.pop(session, None)
    sweeper().ensure_running()


def players_sessions(*, user_id: int, slug: str) -> list[Match]:
    """This player's sessions of that game on this process with an episode on a socket."""
    return [
        session
        for session, owner in list(_sockets.items())
        if owner == user_id and session.game.slug == slug and session.episode is not None
    ]


async def let_go(session: Match) -> bool:
    """The session's socket is gone (dropped, or this process shuts down): pause its game for
    the player's return within the grace period, or end it. True when it was paused."""
    user_id = _sockets.pop(session, None)
    if user_id is not None and session.settings.reconnect_grace > 0 and await session.park():
        await parked().keep(user_id=user_id, session=session)
        return True
    await session.stop("abandoned")
    return False


class Seats:
    """The games this process hosts, capped (``ARCADE_MAX_SESSIONS_PER_PROCESS``).

    A seat is taken before anything is built and given back if the start fails, with no
    ``await`` between the check and the taking: fifty concurrent starts cannot all pass a
    check made before any of them has an episode.
    """

    def __init__(self) -> None:
        self.starting = 0

    def take(self) -> bool:
        people = len(heartbeat().live - programs_episodes()) if _programs else len(heartbeat().live)
        if people + self.starting >= settings.ARCADE["MAX_SESSIONS_PER_PROCESS"]:
            return False
        self.starting += 1
        return True

    def give_back(self) -> None:
        """The start is over: its game is hosted now (counted there), or it failed."""
        self.starting -= 1


@functools.cache
def seats() -> Seats:
    return Seats()


class StartLimiter:
    """Starts a player may make on this process a minute (``ARCADE_STARTS_PER_MINUTE``),
    counted when they arrive: each start builds a game and its worker tasks."""

    def __init__(self) -> None:
        self._recent: dict[int, deque[float]] = {}

    def admit(self, user_id: int) -> bool:
        now = time.monotonic()
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= settings.ARCADE["STARTS_PER_MINUTE"]:
            return False
        recent.append(now)
        return True


@functools.cache
def start_limiter() -> StartLimiter:
    return StartLimiter()


class Sweeper:
    """Ends any game that has had no socket for longer than the grace, whatever the reason.

    The consumer lets go of its game whenever its socket ends (``PlayConsumer.__call__``), so
    this finds nothing in a healthy process; it is the guarantee that a game nobody watches
    cannot keep a seat or a heartbeat however its socket went.
    """

    def __init__(self, *, every: float) -> None:
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while _sessions:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:
                log.exception("could not sweep live sessions")

    async def sweep(self) -> int:
        """End the orphans found now; returns how many."""
        grace = settings.ARCADE["RECONNECT_GRACE_SECONDS"]
        now = time.monotonic()
        ended = 0
        for session in list(_sessions):
            episode = session.episode
            if episode is None and session not in _sockets:
                _sessions.discard(session)  # nothing left to watch
                continue
            if episode is None or session.transport.attached or parked().holds(episode.id):
                _detached_at.pop(session, None)
                continue
            since = _detached_at.setdefault(session, now)
            if now - since >= grace:
                log.warning("episode %s had no socket for %s s; ending it", episode.id, grace)
                _sockets.pop(session, None)
                _detached_at.pop(session, None)
                await session.stop("abandoned")
                ended += 1
        return ended


@functools.cache
def sweeper() -> Sweeper:
    return Sweeper(every=1.0)


async def drain() -> None:
    """Shutting down: pause every running game and hold it for a hand-over, then end the rest.

    The players' pages reconnect when their sockets close; landing on another web process
    (another instance in the cloud), they resume there, and this process hands their games
    over. What is not claimed within ``DRAIN_SECONDS`` ends as abandoned, finalised with every
    step, instead of being cut off and found later by the watchdog.

    A game of several players cannot move (its players' sockets are on several processes,
    and a room lives where it was opened): it ends now as abandoned, every step stored, and
    its players are told; their pages offer Play again, which opens a room elsewhere.
    """
    from . import lobby  # the rooms; lobby builds on this module

    for room in lobby.rooms():
        await room.close()
    paused = 0
    for session in list(_sockets):
        paused += await let_go(session)
    deadline = time.monotonic() + settings.ARCADE["DRAIN_SECONDS"]
    if paused:
        log.info("shutting down: %d game(s) paused for a hand-over", paused)
    while len(parked()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await parked().end_all()


@functools.cache
def metrics_flusher() -> Flusher:
    return Flusher(lambda: (len(heartbeat().live), len(parked())))


@functools.cache
def live_settings() -> LiveSettings:
    conf = settings.ARCADE
    return LiveSettings(
        chunk_steps=conf["CHUNK_STEPS"],
        chunk_seconds=conf["CHUNK_SECONDS"],
        window=conf["SEND_WINDOW"],
        ack_every=conf["ACK_EVERY"],
        reconnect_grace=conf["RECONNECT_GRACE_SECONDS"],
    )


@functools.cache
def parked() -> ParkedSessions:
    return ParkedSessions(grace=settings.ARCADE["RECONNECT_GRACE_SECONDS"])


def prewarm_in_background() -> None:
    """Build idle machines for every enabled game before players arrive."""
    per_game = settings.ARCADE["PREWARM"]
    if per_game <= 0:
        prewarmed.set()
        return

    def work() -> None:
        from games.models import Game

        try:
            games = Game.objects.playable()
            if settings.ARCADE["PREWARM_GAMES"]:
                games = games.filter(slug__in=settings.ARCADE["PREWARM_GAMES"])
            configs = [g.config() for g in games]
        except Exception:  # no tables yet (before migrate): nothing to warm
            log.info("no catalogue to prewarm")
            prewarmed.set()
            return
        pool().prewarm(configs, per_game)
        settle_heap()
        prewarmed.set()
        log.info("prewarmed %d machine(s) for %d game(s)", per_game, len(configs))

    threading.Thread(target=work, name="arcade-prewarm", daemon=True).start()


def settle_heap() -> None:
    """Keep what start-up built out of every future garbage collection.

    Django, the apps and the prewarmed machines leave a few hundred thousand long-lived objects;
    a full collection walks them all and held one web process for 170 to 200 ms, twelve frames
    for every player on it. Frozen objects are never scanned again, so the collections that
    run while people play only look at what play allocates.
    """
    gc.collect()
    gc.freeze()
