"""The sockets of multi-seat games and of spectators.

``ws/match/<game>/``: a player's seat in a multi-seat game. ``start`` joins the waiting room
(``play/lobby.py``); the room answers with ``lobby`` messages until the game starts, then
frames and the game's messages as on a one-player socket, each seat's from its own seat.
``ws/watch/<episode>/``: a spectator's read-only view of a running episode of a multi-seat
match. Either may be served by a room on another web process: its frames and messages then
arrive through this process's inbox (``play/hub.py``, ``Relayed``).
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from django.conf import settings

from games.engine.machines import GameConfig
from games.models import Game
from recording.notices import player_group

from . import engine, lobby
from . import hub as hubs
from . import protocol as p
from .consumers import PlayConsumer
from .rooms import Room
from .wire import FrameWriter

log = logging.getLogger(__name__)


def _hello(game: Game, config: GameConfig) -> p.HelloMessage:
    """The greeting of a multi-seat game's socket: each seat's keys come with the seat."""
    shape = game.frame_shape or [0, 0]
    return p.HelloMessage(
        type="hello",
        protocol=p.PROTOCOL_VERSION,
        game=p.GameInfo(
            slug=config.slug,
            title=config.title,
            fps=config.fps,
            turn_based=config.turn_based,
            width=shape[1] if len(shape) > 1 else 0,
            height=shape[0],
            pixel_format="indexed",
            palette=None,
            keys=[],
            max_steps=config.max_steps,
            pauses_when_hidden=False,
            two_sided_score=config.two_sided_score,
        ),
        ack_every=settings.ARCADE["ACK_EVERY"],
        window=settings.ARCADE["SEND_WINDOW"],
        reconnect_grace=settings.ARCADE["RECONNECT_GRACE_SECONDS"],
    )


class _Relayed(PlayConsumer):
    """What both sockets share: frames and messages relayed from a room on another process."""

    relayed: hubs.Relayed | None = None

    async def _subscribe(self) -> None:
        """Receive what a room on another process sends this socket (before asking it)."""
        if self.relayed is None:
            self.relayed = hubs.Relayed(self.channel_name, self._relay)
        await self.relayed.start()

    async def _relay(self, data: bytes) -> None:
        if data[:1] == hubs.FRAME:
            await self.send_bytes(data[1:])
        elif self._writer.open and not self._torn_down:
            await self.send(text_data=data[1:].decode())

    async def _unsubscribe(self) -> None:
        if self.relayed is not None:
            await self.relayed.stop()


class MatchConsumer(_Relayed):
    """ws/match/<slug>/: one player's seat in a multi-seat game."""

    link: lobby.LocalLink | lobby.RemoteLink | None = None

    async def connect(self) -> None:
        config = await self._open(multi_seat=True)
        if config is None:
            return
        self.config = config
        self.attached = True
        self.notices = player_group(self.user.pk)
        await self.channel_layer.group_add(self.notices, self.channel_name)
        await self.send_json(_hello(self.game, config))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.attached or not self._admit():
            return
        try:
            msg = p.parse_client_message(text_data)
            link = self.link
            if msg["type"] == "ping":
                await self.send_json(p.PongMessage(type="pong", t=msg["t"]))
            elif msg["type"] == "start":
                await self._join()
            elif msg["type"] == "resume":
                await self._rejoin(msg["episode"])
            elif msg["type"] == "leave":
                self.link = None
                if link is not None:
                    await link.leave()
            elif link is None:
                raise p.ProtocolError("not_seated", "Press Play to take a seat first.")
            elif msg["type"] == "input":
                await link.input(msg)
            elif msg["type"] == "ack":
                await link.ack(msg["frame"])
            elif msg["type"] == "keyframe":
                await link.keyframe()
            elif msg["type"] == "pause":
                raise p.ProtocolError(
                    "no_pause", "A game of several players does not pause for a hidden tab."
                )
            # begin: a game of several players starts for all at once, after its countdown
        except p.ProtocolError as exc:
            await self.send_json(p.ErrorMessage(type="error", code=exc.code, message=exc.message))
        except Exception:
            await self._failed(self.game.slug)

    async def _join(self) -> None:
        if self.link is not None:
            # Play again after a game: the last room has closed (leaving it changes nothing);
            # mid-game, it is leaving that game for a new one.
            link, self.link = self.link, None
            await link.leave()
        if not lobby.admit_join(self.user.pk):
            raise p.ProtocolError(
                "too_many_starts", "You joined many games in the last minute; wait a moment."
            )
        link = await lobby.take_seat(
            game=self.game,
            config=self.config,
            user=self.user,
            transport=self,
            channel=self.channel_name,
            subscribe=self._subscribe,
        )
        await self._seated(link)

    async def _rejoin(self, episode_id: str) -> None:
        if self.link is not None:
            raise p.ProtocolError("seated", "You hold a seat already.")
        link = await lobby.rejoin(
            episode_id=episode_id,
            user=self.user,
            transport=self,
            channel=self.channel_name,
            subscribe=self._subscribe,
        )
        await self._seated(link)

    async def _seated(self, link: lobby.LocalLink | lobby.RemoteLink) -> None:
        if not self.attached:  # the socket went while the seat was being found
            await link.leave()
            return
        self.link = link  # the room has told the page its seat

    async def _teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self.attached = False
        try:
            link, self.link = self.link, None
            if link is not None:
                await engine.finish(link.leave())
        except Exception:
            log.exception("could not leave the room of %s", getattr(self, "game", "?"))
        finally:
            await self._unsubscribe()
            if self.notices is not None:
                await self.channel_layer.group_discard(self.notices, self.channel_name)


class WatchConsumer(_Relayed):
    """ws/watch/<episode>/: a spectator's view of a running multi-seat match; read-only."""

    room: Room | None = None
    address: hubs.Address | None = None

    async def connect(self) -> None:
        await self.accept()
        self._writer = FrameWriter(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=p.CLOSE_UNAUTHENTICATED)
            return
        try:
            episode_id = p.episode_id(self.scope["url_route"]["kwargs"]["episode"])
        except p.ProtocolError:
            await self.close(code=p.CLOSE_NOT_FOUND)
            return
        if not await lobby.may_watch(user, episode_id):
            await self.close(code=p.CLOSE_FORBIDDEN)
            return
        game = await Game.objects.filter(episodes__pk=episode_id).afirst()
        if game is None:
            await self.close(code=p.CLOSE_NOT_FOUND)
            return
        self.game = game
        self.attached = True
        self._limits()
        await self.send_json(_hello(game, await database_sync_to_async(game.config)()))
        address = await hubs.room_of_episode(episode_id)
        if address is None:
            await self.send_json(
                p.ErrorMessage(type="error", code="not_live", message="That game is not live.")
            )
            await self.close(code=p.CLOSE_NOT_FOUND)
            return
        self.address = address
        watching = await lobby.watch(
            address, transport=self, channel=self.channel_name, subscribe=self._subscribe
        )
        if not watching:
            await self.send_json(
                p.ErrorMessage(type="error", code="not_live", message="That game has ended.")
            )
            await self.close(code=p.CLOSE_NOT_FOUND)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.attached or not self._admit():
            return
        try:
            msg = p.parse_client_message(text_data)
            if msg["type"] == "ping":
                await self.send_json(p.PongMessage(type="pong", t=msg["t"]))
            elif msg["type"] in ("ack", "keyframe"):
                await lobby.spectator_flow(
                    self.address, channel=self.channel_name, transport=self, message=msg
                )
            else:
                raise p.ProtocolError(
                    "spectator", "You are watching: a spectator's input is not played."
                )
        except p.ProtocolError as exc:
            await self.send_json(p.ErrorMessage(type="error", code=exc.code, message=exc.message))

    async def _teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self.attached = False
        if self.address is not None:
            try:
                await lobby.unwatch(self.address, transport=self, channel=self.channel_name)
            except Exception:
                log.warning("could not stop watching", exc_info=True)
        await self._unsubscribe()
