"""The play socket: authenticate, parse, hand to the live session, reply."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from games.engine.machines import GameConfig
from games.models import Game
from recording import services
from recording.notices import EpisodeFinalised, player_group

from . import engine
from . import protocol as p
from .match import Match
from .notices import GameRelease, GameReleased
from .seats import Holder
from .sink import DjangoSink
from .wire import FrameWriter

log = logging.getLogger(__name__)

RELEASE_TIMEOUT = 3.0  # seconds a newer tab waits for another process to let go of the game

# One start at a time per player on this process: concurrent tabs queue here, so each sees
# the game the one before it started (and takes it over) instead of all starting one.
_start_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _start_lock(user_id: int) -> asyncio.Lock:
    lock = _start_locks.get(user_id)
    if lock is None:
        lock = _start_locks[user_id] = asyncio.Lock()
    return lock


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any socket path that is not a game's: closed with 4404."""

    async def connect(self) -> None:
        log.info("no socket at %s", self.scope.get("path", "?")[:200])
        await self.accept()
        await self.close(code=p.CLOSE_NOT_FOUND)


class QuickSocket(AsyncWebsocketConsumer):
    """A socket whose messages are handled without Channels' database housekeeping."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections in a thread before every message; acks,
        # input and an agent's steps arrive dozens to thousands of times a second and never
        # touch the database (the calls that do go through database_sync_to_async, which
        # closes them itself).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class PlayConsumer(QuickSocket):
    """ws/play/<slug>/: one player's live game."""

    session: Match | None = None
    game: Game
    user: Any  # the authenticated user of the socket's scope
    notices: str | None = None  # the player's group for workers' notices (recording.notices)
    # Transport: True from the greeting until the socket ends; a game is stepped only then.
    attached = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = FrameWriter({})
        self._tasks: set[asyncio.Future[None]] = set()
        self._starting: asyncio.Task[None] | None = None
        self._begin_when_started = False
        self._torn_down = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the socket ended (a close, an exception in a handler, the server
            # cancelling us), the game goes the way of a dropped socket: never on for nobody.
            await asyncio.shield(self._teardown())

    async def _open(self, *, multi_seat: bool) -> GameConfig | None:
        """Accept, then find the player and the playable game of the path (``self.user``,
        ``self.game``) and read the game's settings; None once the socket is closed with the
        code that says why (not logged in, or no such game on this route)."""
        # Accept before refusing: a close before accept reaches the browser as a bare 1006,
        # while our close codes let the page tell the player what to do.
        await self.accept()
        self._writer = FrameWriter(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=p.CLOSE_UNAUTHENTICATED)
            return None
        slug = self.scope["url_route"]["kwargs"]["slug"]
        game = await Game.objects.playable().filter(slug=slug).afirst()
        if game is None or game.is_multi_seat != multi_seat:
            # A game of several seats is played through ws/match/, with its waiting room; one
            # stepped here as one player's would fail at its first step.
            await self.close(code=p.CLOSE_NOT_FOUND)
            return None
        self.user, self.game = user, game
        self._limits()
        return await database_sync_to_async(game.config)()  # its seats are rows

    def _limits(self) -> None:
        self._window_start = time.monotonic()
        self._window_count = 0
        self._refused = 0
        # Read once: every message is checked against these, and settings is a lazy proxy.
        self._max_per_second = settings.ARCADE["MAX_MESSAGES_PER_SECOND"]
        self._max_refused = settings.ARCADE["MAX_REFUSED_MESSAGES"]

    async def connect(self) -> None:
        config = await self._open(multi_seat=False)
        if config is None:
            return
        user, game = self.user, self.game
        sink = DjangoSink(user=user, game=game)
        self.session = Match.for_player(
            game=config,
            transport=self,
            store=sink,
            pool=engine.pool(),
            settings=engine.live_settings(),
            holder=Holder("human", user_id=user.pk, name=user.public_name),
        )
        sink.solo = self.session  # staff may watch it (play/lobby.py, Solo)
        self.attached = True
        engine.hosting(self.session, user_id=user.pk)
        # Workers' notices about this player's episodes reach this socket on any web process.
        self.notices = player_group(user.pk)
        await self.channel_layer.group_add(self.notices, self.channel_name)
        shape = game.frame_shape or [0, 0]
        await self.send_json(
            self.session.hello(
                width=shape[1] if len(shape) > 1 else 0,
                height=shape[0],
                pixel_format="indexed" if game.is_atari else "rgb",
            )
        )

    async def disconnect(self, code: int) -> None:
        await self._teardown()

    async def _teardown(self) -> None:
        """The socket is gone: pause its game for the player's return, or end it. Runs once."""
        if self._torn_down:
            return
        self._torn_down = True
        self.attached = False
        try:
            if self._starting is not None:
                # A start under way finishes first (it sees the socket gone and creates
                # nothing, or its episode is let go of below); cancelling it could leave a
                # row created in a thread with nobody to close it.
                await asyncio.gather(self._starting, return_exceptions=True)
            session = self.session
            # A dropped socket pauses the game for a while: the player may be back in a moment.
            # (Not when the game has left this socket already: paused by a shutdown, taken
            # over by a newer tab, or resumed on the player's newer socket.)
            if session is not None and session.transport is self:
                await engine.let_go(session)
        finally:
            # After the game is safe: a notice sent meanwhile to a closed socket is dropped,
            # and the episode page has the result anyway.
            if self.notices is not None:
                await self.channel_layer.group_discard(self.notices, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None or not self.attached:
            return
        if not self._admit():
            return
        try:
            msg = p.parse_client_message(text_data)
            if msg["type"] == "input":
                session.on_input(msg)
            elif msg["type"] == "ack":
                session.on_ack(msg["frame"])
            elif msg["type"] == "keyframe":
                session.on_keyframe_request()
            elif msg["type"] == "ping":
                await self.send_json(p.PongMessage(type="pong", t=msg["t"]))
            elif msg["type"] == "start":
                self._start()
            elif msg["type"] == "begin":
                self._begin()
            elif msg["type"] == "pause":
                await session.pause()
            elif msg["type"] == "resume":
                await self._resume(session, msg["episode"])
        except p.ProtocolError as exc:
            await self.send_json(p.ErrorMessage(type="error", code=exc.code, message=exc.message))
        except Exception:
            await self._failed(session.game.slug)

    async def _failed(self, slug: str) -> None:
        """A bug of ours, not the client's: say so, and let go of the game exactly as if the
        socket had dropped (a one-player game pauses for the grace, then ends as abandoned)."""
        log.exception("a message on %s could not be handled", slug)
        await self.send_json(
            p.ErrorMessage(
                type="error",
                code="server_error",
                message="Something went wrong on the server; reload the page to go on.",
                fatal=True,
            )
        )
        await self._teardown()
        await self.close(code=p.CLOSE_SERVER_ERROR)

    def _begin(self) -> None:
        """The player is ready. A page may say so before the game it started is ready (the
        start is answered beside the socket's other messages): it then begins once it is."""
        if self._starting is not None and not self._starting.done():
            self._begin_when_started = True
            return
        assert self.session is not None
        self.session.begin()

    def _start(self) -> None:
        """Refused or begun at once: a flood of starts is never queued behind a slow one."""
        if self._starting is not None and not self._starting.done():
            raise p.ProtocolError("busy", "Your game is starting; wait for it.")
        if not engine.start_limiter().admit(self.scope["user"].pk):
            raise p.ProtocolError(
                "too_many_starts",
                "You started many games in the last minute; wait a moment, then press New game.",
            )
        self._begin_when_started = False
        self._starting = asyncio.create_task(self._start_game())

    async def _start_game(self) -> None:
        session = self.session
        assert session is not None
        try:
            async with _start_lock(self.scope["user"].pk):
                if not self.attached:
                    return
                if not (session.episode is None and await self._take_over(session)):
                    await self._start_new(session)
            if self._begin_when_started and self.session is not None and self.attached:
                self._begin_when_started = False
                if self.session.episode is not None:
                    self.session.begin()
        except p.ProtocolError as exc:
            await self.send_json(p.ErrorMessage(type="error", code=exc.code, message=exc.message))
        except Exception:
            log.exception("could not start %s", session.game.slug)
            await self.send_json(
                p.ErrorMessage(
                    type="error",
                    code="start_failed",
                    message="The game could not be started; press New game to try again.",
                )
            )

    async def _start_new(self, session: Match) -> None:
        # A New game keeps this socket's seat; a first game takes one, before anything is
        # built, so that concurrent starts cannot all pass the check.
        seated = session.episode is not None
        if not seated and not engine.seats().take():
            # A degraded game for everyone is worse than a short wait for one player.
            raise p.ProtocolError(
                "full", "All seats are taken; you will play as soon as one is free."
            )
        try:
            await session.start()
        finally:
            if not seated:
                engine.seats().give_back()

    async def _take_over(self, session: Match) -> bool:
        """At the per-player cap, this newer tab takes over the player's game of this game
        (on this process or another) instead of adding one. True when it did."""
        user_id = self.scope["user"].pk
        slug = session.game.slug
        mine = [s for s in engine.players_sessions(user_id=user_id, slug=slug) if s is not session]
        active = await database_sync_to_async(services.user_active_episodes)(
            user_id=user_id, game_id=self.game.pk
        )
        if len(active) < settings.ARCADE["MAX_GAMES_PER_USER"]:
            return False
        for other in mine:
            if other.episode is not None and isinstance(other.transport, PlayConsumer):
                episode_id = other.episode.id
                await other.transport.give_up_to_newer_tab()
                return await self._go_on(session, episode_id)
        for episode_id in active:
            held = engine.parked().holds(episode_id) or await self._release_elsewhere(episode_id)
            if held and await self._go_on(session, episode_id):
                return True
        # What is left is stale (its process died; the watchdog ends it): play a new game.
        return False

    async def _release_elsewhere(self, episode_id: str) -> bool:
        """Ask the player's other sockets (any process) to let go of that game."""
        reply = await self.channel_layer.new_channel()
        await self.channel_layer.group_send(
            player_group(self.scope["user"].pk),
            dict(GameRelease(type="game.release", episode=episode_id, reply=reply)),
        )
        try:
            await asyncio.wait_for(self.channel_layer.receive(reply), RELEASE_TIMEOUT)
        except TimeoutError:
            return False
        return True

    async def game_release(self, message: GameRelease) -> None:
        """A newer tab of this player wants the game this socket plays (play.notices)."""
        session = self.session
        if session is None or session.episode is None or session.episode.id != message["episode"]:
            return
        if session.transport is not self:
            return
        await self.give_up_to_newer_tab()
        await self.channel_layer.send(
            message["reply"], dict(GameReleased(type="game.released", episode=message["episode"]))
        )

    async def give_up_to_newer_tab(self) -> None:
        """Park this socket's game for the player's newer tab, and close this socket so that
        its page neither plays on nor takes the game back."""
        session = self.session
        if session is None:
            return
        await self.send_json(
            p.ErrorMessage(
                type="error",
                code="taken_over",
                message="This game moved to your newer tab or window.",
                fatal=True,
            )
        )
        if session.transport is self:
            await engine.let_go(session)
        self.attached = False
        await self.close(code=p.CLOSE_TAKEN_OVER)

    async def _resume(self, session: Match, episode_id: str) -> None:
        if not await self._go_on(session, episode_id):
            raise p.ProtocolError(
                "resume_failed",
                "That game is not waiting for you any more (it ended, or you were away too "
                "long); press New game.",
            )

    async def _go_on(self, session: Match, episode_id: str) -> bool:
        """Go on with the player's paused game on this socket; False when nobody holds it."""
        claimed = await engine.parked().claim(
            user_id=self.scope["user"].pk, episode_id=episode_id, slug=session.game.slug
        )
        if claimed is None:
            return False
        try:
            if isinstance(claimed, Match):
                await session.stop("abandoned", notify=True)  # a game started here meanwhile
                self.session = session = claimed
            else:  # handed over by the process that held it
                await session.adopt(claimed)
            engine.hosting(session, user_id=self.scope["user"].pk)
            await session.resume(transport=self)
        except p.ProtocolError:
            raise
        except Exception:
            log.exception("could not resume episode %s", episode_id)
            await session.stop("abandoned")
            raise p.ProtocolError(
                "resume_failed", "The game could not be resumed; press New game."
            ) from None
        if not self.attached:  # the socket went meanwhile: the game pauses again
            await engine.let_go(session)
        return True

    async def episode_finalised(self, notice: EpisodeFinalised) -> None:
        """A worker stored and checked one of this player's episodes (recording.notices)."""
        await self.send_json(
            p.EpisodeSavedMessage(
                type="episode_saved",
                episode=notice["episode"],
                status=notice["status"],
                verification=notice["verification"],
                steps=notice["steps"],
            )
        )

    def _admit(self) -> bool:
        """A per-socket rate limit: refuse a flood politely, then close the socket."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count <= self._max_per_second:
            return True
        self._refused += 1
        if self._refused >= self._max_refused:
            self._background(self.close(code=p.CLOSE_FLOOD))
        elif self._window_count == self._max_per_second + 1:
            self._background(
                self.send_json(
                    p.ErrorMessage(
                        type="error",
                        code="rate_limited",
                        message="Too many messages; send input only when keys change.",
                    )
                )
            )
        return False

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Transport for Match. A socket that is closing drops what is sent to it: the page
    # is gone, and Daphne would log a traceback for each message sent on a closed protocol.
    async def send_bytes(self, data: bytes) -> None:
        # Runs for every frame of every session: the fast path when Daphne serves the socket.
        if not self._writer.write(data) and self._writer.open:
            await self.base_send({"type": "websocket.send", "bytes": data})

    async def send_json(self, message: Any) -> None:
        if self._writer.open and not self._torn_down:
            await self.send(text_data=json.dumps(message))
