"""The play socket: authenticate, parse, hand to the live session, reply."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from games.models import Game
from recording import services

from . import engine
from . import protocol as p
from .live import EndReason, LiveSession
from .notices import EpisodeFinalised, player_group
from .wire import FrameWriter

log = logging.getLogger(__name__)


class DjangoEpisodeStore:
    """The live session's link to the database and the workers."""

    def __init__(self, *, user: Any, game: Game) -> None:
        self.user = user
        self.game = game

    async def create(self, *, seed: int, frame_shape: list[int], pixel_format: str) -> str:
        episode = await database_sync_to_async(services.episode_start)(
            user=self.user,
            game=self.game,
            seed=seed,
            frame_shape=frame_shape,
            pixel_format=pixel_format,
        )
        self.hosted(str(episode.pk), here=True)
        return str(episode.pk)

    async def ship(self, *, episode: str, index: int, blob: bytes) -> None:
        await engine.shipper().ship(episode, index, blob)

    def hosted(self, episode: str, *, here: bool) -> None:
        # Beating keeps the watchdog off a live episode; the flusher reports it in /metrics.
        if here:
            engine.heartbeat().add(episode)
            engine.metrics_flusher().ensure_running()
        else:
            engine.heartbeat().discard(episode)

    async def close(
        self,
        *,
        episode: str,
        reason: EndReason,
        steps: int,
        chunks: int,
        total: float,
        pauses: list[dict[str, Any]],
    ) -> None:
        try:
            await database_sync_to_async(services.episode_end)(
                episode_id=episode, reason=reason, steps=steps, chunks=chunks, pauses=pauses
            )
        finally:
            self.hosted(episode, here=False)


class PlayConsumer(AsyncWebsocketConsumer):
    """ws/play/<slug>/: one player's live game."""

    session: LiveSession | None = None
    notices: str | None = None  # the player's group for workers' notices (arcade.notices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = FrameWriter({})

    async def connect(self) -> None:
        # Accept before refusing: a close before accept reaches the browser as a bare 1006,
        # while our close codes let the page tell the player what to do.
        await self.accept()
        self._writer = FrameWriter(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=p.CLOSE_UNAUTHENTICATED)
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        game = await Game.objects.playable().filter(slug=slug).afirst()
        if game is None:
            await self.close(code=p.CLOSE_NOT_FOUND)
            return
        self.session = LiveSession(
            game=game.config(),
            transport=self,
            store=DjangoEpisodeStore(user=user, game=game),
            pool=engine.pool(),
            settings=engine.live_settings(),
        )
        engine.hosting(self.session, user_id=user.pk)
        # Workers' notices about this player's episodes reach this socket on any web process.
        self.notices = player_group(user.pk)
        await self.channel_layer.group_add(self.notices, self.channel_name)
        self._window_start = time.monotonic()
        self._window_count = 0
        self._refused = 0
        # Read once: every message is checked against these, and settings is a lazy proxy.
        self._max_per_second = settings.ARCADE["MAX_MESSAGES_PER_SECOND"]
        self._max_refused = settings.ARCADE["MAX_REFUSED_MESSAGES"]
        self._tasks: set[asyncio.Future[None]] = set()
        shape = game.frame_shape or [0, 0]
        await self.send_json(
            self.session.hello(
                width=shape[1] if len(shape) > 1 else 0,
                height=shape[0],
                pixel_format="indexed" if game.is_atari else "rgb",
            )
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections in a thread before every message; acks
        # and input arrive dozens of times a second and never touch the database (the calls
        # that do go through database_sync_to_async, which closes them itself).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        session = self.session
        if session is None:
            return
        try:
            # A dropped socket pauses the game for a while: the player may be back in a moment.
            # (Not when the game has left this socket already: paused by a shutdown, or
            # resumed on the player's newer socket.)
            if session.transport is self:
                await engine.let_go(session)
        finally:
            # After the game is safe: a notice sent meanwhile to a closed socket is dropped,
            # and the episode page has the result anyway.
            if self.notices is not None:
                await self.channel_layer.group_discard(self.notices, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
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
                await self._start(session)
            elif msg["type"] == "begin":
                session.begin()
            elif msg["type"] == "pause":
                await session.pause()
            elif msg["type"] == "resume":
                await self._resume(session, msg["episode"])
        except p.ProtocolError as exc:
            await self.send_json(p.ErrorMessage(type="error", code=exc.code, message=exc.message))

    async def _start(self, session: LiveSession) -> None:
        if session.episode is None and not engine.seat_free():
            # A degraded game for everyone is worse than a short wait for one player.
            raise p.ProtocolError(
                "full",
                "All seats are taken; you will play as soon as one is free.",
            )
        try:
            await session.start()
        except Exception:
            log.exception("could not start %s", session.game.slug)
            await self.send_json(
                p.ErrorMessage(
                    type="error",
                    code="start_failed",
                    message="The game could not be started; press New game to try again.",
                )
            )

    async def _resume(self, session: LiveSession, episode_id: str) -> None:
        claimed = await engine.parked().claim(
            user_id=self.scope["user"].pk, episode_id=episode_id, slug=session.game.slug
        )
        if claimed is None:
            raise p.ProtocolError(
                "resume_failed",
                "That game is not waiting for you any more (it ended, or you were away too "
                "long); press New game.",
            )
        try:
            if isinstance(claimed, LiveSession):
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

    async def episode_finalised(self, notice: EpisodeFinalised) -> None:
        """A worker stored and checked one of this player's episodes (arcade.notices)."""
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

    # Transport for LiveSession
    async def send_bytes(self, data: bytes) -> None:
        # Runs for every frame of every session: the fast path when Daphne serves the socket.
        if not self._writer.write(data):
            await self.base_send({"type": "websocket.send", "bytes": data})

    async def send_json(self, message: Any) -> None:
        await self.send(text_data=json.dumps(message))
