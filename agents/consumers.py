"""``/ws``: a program's session over a socket, in OpenEnv's protocol.

A client sends ``{"type": "reset"|"step"|"state"|"close", "data": {...}}`` and is answered
``{"type": "observation"|"state"|"error", "data": {...}}`` (``docs/agents.md``). The token comes
in a header, never the URL; without a good one the socket is told why and closed. A bad
message is answered with an error naming what to fix, and the session goes on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from channels.db import database_sync_to_async

from play import engine
from play import protocol as p
from play.consumers import QuickSocket
from play.wire import FrameWriter

from . import services, wire
from .desk import Desk, session_name
from .wire import Observation

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024  # a reset's options or an action: far less than this
CLOSE_UNAUTHORIZED = 4401


class AgentConsumer(QuickSocket):
    desk: Desk | None = None
    token: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each session's message being answered in a task of its own, if any (``receive``).
        self._work: dict[str, asyncio.Task[None]] = {}
        self._writer = FrameWriter({})
        # Each delta-encoded session's observation sent last: its next screen is coded
        # against this one's (``wire.Observation.delta``).
        self._shown: dict[str, Observation] = {}

    async def connect(self) -> None:
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in self.scope.get("headers", [])
        }
        raw = services.from_headers(headers)
        self.token = await database_sync_to_async(services.find)(raw) if raw else None
        await self.accept()
        self._writer = FrameWriter(self.scope)
        if self.token is None:
            await self.send(
                text_data=wire.error(
                    "unauthorized",
                    "Send an API token in the Authorization header (Bearer <token>, or a URL's "
                    "user:<token>@ for clients that cannot set headers); make one on your "
                    "account page.",
                )
            )
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.desk = Desk(self.token, self._told)
        await self.channel_layer.group_add(services.token_group(self.token.pk), self.channel_name)

    async def _told(self, session: str, code: str, message: str) -> None:
        await self.send(text_data=wire.error(code, message, session=session))

    async def token_revoked(self, _message: dict[str, Any]) -> None:
        """Its token was revoked (by its owner or staff): the session ends, and says why."""
        await self.send(
            text_data=wire.error("token_revoked", "This session's API token was revoked.")
        )
        await self._end_sessions()
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        if self.token is not None:
            await self.channel_layer.group_discard(
                services.token_group(self.token.pk), self.channel_name
            )
        await self._end_sessions()

    async def _end_sessions(self) -> None:
        """Its episodes end now, every step kept: the socket closing may be told later."""
        desk, self.desk = self.desk, None
        work, self._work = list(self._work.values()), {}
        current = asyncio.current_task()
        for task in work:
            if task is not current:
                task.cancel()  # a reset waiting for a room's other seats stops waiting
        if desk is not None:
            await engine.finish(self._close_all(desk, [t for t in work if t is not current]))

    @staticmethod
    async def _close_all(desk: Desk, work: list[asyncio.Task[None]]) -> None:
        if work:
            await asyncio.wait(work)
        await desk.close_all()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        desk = self.desk
        if desk is None:
            return
        name = ""
        try:
            kind, data = self._read(text_data)
            name = session_name(data)
        except p.ProtocolError as exc:
            await self.send(text_data=wire.error(exc.code, exc.message, session=name))
            return
        pending = self._work.get(name)
        if kind == "close" and pending is not None:
            pending.cancel()  # a reset waiting for a room's seats stops waiting: it is closed
        if kind == "reset" or pending is not None or desk.waits(name):
            # A reset may wait (a seat in a room waits for the others) and a room's step for
            # its frame: in a task of the session's own, so the socket's other sessions go on;
            # a session's messages still run in the order they came.
            task = asyncio.ensure_future(self._answer_after(pending, desk, kind, data, name))
            self._work[name] = task
            task.add_done_callback(functools.partial(self._done, name))
            return
        await self._answer(desk, kind, data, name)

    def _read(self, text_data: str | None) -> tuple[Any, dict[str, Any]]:
        if text_data is None or len(text_data) > MAX_MESSAGE:
            raise p.ProtocolError(
                "bad_message", f"Send JSON text messages of at most {MAX_MESSAGE} bytes."
            )
        try:
            message = json.loads(text_data)
        except ValueError:
            raise p.ProtocolError("bad_message", "That message is not JSON.") from None
        if not isinstance(message, dict):
            raise p.ProtocolError("bad_message", "A message is a JSON object with a type.")
        data = message.get("data", {})
        if not isinstance(data, dict):
            raise p.ProtocolError("bad_message", "A message's 'data' is a JSON object.")
        return message.get("type"), data

    async def _answer_after(
        self, pending: asyncio.Task[None] | None, desk: Desk, kind: Any, data: Any, name: str
    ) -> None:
        if pending is not None:
            try:
                await asyncio.wait([pending])
            except asyncio.CancelledError:
                pending.cancel()  # cancelled, the session's earlier messages are too
                raise
        await self._answer(desk, kind, data, name)

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._work.get(name) is task:
            del self._work[name]

    async def _answer(self, desk: Desk, kind: Any, data: Any, name: str) -> None:
        try:
            if kind == "reset":
                await self._observation(desk, name, await desk.reset(name, data))
            elif kind == "step":
                await self._observation(desk, name, await desk.step(name, data))
            elif kind == "state":
                await self.send(text_data=json.dumps({"type": "state", "data": desk.state(name)}))
            elif kind == "close" and name:
                self._shown.pop(name, None)
                await desk.close(name)
            elif kind == "close":
                await self._end_sessions()
                await self.close()
            else:
                raise p.ProtocolError(
                    "bad_message", "The message's type must be reset, step, state or close."
                )
        except p.ProtocolError as exc:
            await self.send(text_data=wire.error(exc.code, exc.message, session=name))
        except Exception:
            log.exception("agent session failed")
            await self.send(
                text_data=wire.error(
                    "internal", "The server could not do that; reset to go on.", session=name
                )
            )

    async def _observation(self, desk: Desk, name: str, seen: Observation) -> None:
        # Straight to Daphne's transport when it can (``play/wire.py``): Channels' send,
        # Daphne's reply and autobahn's framing cost more than the emulator's step.
        encoding = desk.encoding(name)
        if encoding == "delta":
            base = self._shown.get(name)
            # A delta goes on from the screen before in the same episode; anything else (a
            # reset, a session reopened under the name) starts again from a keyframe.
            if base is None or base.episode_id != seen.episode_id or base.frame >= seen.frame:
                base = None
            message = seen.delta(None if base is None else base.screen, session=name)
            self._shown[name] = seen
            if not self._writer.write(message):
                await self.send(bytes_data=message)
        elif encoding == "binary":
            message = seen.binary(session=name)
            if not self._writer.write(message):
                await self.send(bytes_data=message)
        else:
            text = seen.json(session=name)
            if not self._writer.write(text, text=True):
                await self.send(text_data=text.decode())
