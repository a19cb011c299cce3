"""``/ws``: a program's session over a socket, in OpenEnv's protocol.

A client sends ``{"type": "reset"|"step"|"state"|"close", "data": {...}}`` and is answered
``{"type": "observation"|"state"|"error", "data": {...}}`` (``docs/agents.md``). The token comes
in a header, never the URL; without a good one the socket is told why and closed. A bad
message is answered with an error naming what to fix, and the session goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from games.models import Game
from play import protocol as p

from . import services
from .options import read
from .sessions import AgentSession, Seen

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024  # a reset's options or an action: far less than this
CLOSE_UNAUTHORIZED = 4401


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "data": {"code": code, "message": message}}


def observation(seen: Seen, *, legal: int, obs_type: str) -> dict[str, Any]:
    """OpenEnv's Atari observation: the screen as a flat list, with its shape."""
    return {
        "type": "observation",
        "data": {
            "observation": {
                "screen": seen.screen.reshape(-1).tolist(),
                "screen_shape": list(seen.screen.shape),
                "legal_actions": list(range(legal)),
                "lives": seen.lives,
                "episode_frame_number": seen.frame,
                "frame_number": seen.frame,
                "obs_type": obs_type,
            },
            "reward": seen.reward,
            "done": seen.done,
        },
    }


class AgentConsumer(AsyncWebsocketConsumer):
    session: AgentSession | None = None
    token: Any = None

    async def connect(self) -> None:
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in self.scope.get("headers", [])
        }
        raw = services.from_headers(headers)
        self.token = await database_sync_to_async(services.find)(raw) if raw else None
        await self.accept()
        if self.token is None:
            await self._send(
                error(
                    "unauthorized",
                    "Send an API token in the Authorization header (Bearer <token>, or a URL's "
                    "user:<token>@ for clients that cannot set headers); make one on your "
                    "account page.",
                )
            )
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        await self.channel_layer.group_add(services.token_group(self.token.pk), self.channel_name)

    async def token_revoked(self, _message: dict[str, Any]) -> None:
        """Its token was revoked (by its owner or staff): the session ends, and says why."""
        await self._send(error("token_revoked", "This session's API token was revoked."))
        await self._end_session()
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        if self.token is not None:
            await self.channel_layer.group_discard(
                services.token_group(self.token.pk), self.channel_name
            )
        await self._end_session()

    async def _end_session(self) -> None:
        """Its episode ends now, every step kept: the socket closing may be told later."""
        if self.session is not None:
            session, self.session = self.session, None
            await session.close("abandoned")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.token is None:
            return
        try:
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
            kind = message.get("type")
            data = message.get("data", {})
            if kind == "reset":
                await self._reset(data)
            elif kind == "step":
                await self._step(data)
            elif kind == "state":
                await self._send({"type": "state", "data": self._state()})
            elif kind == "close":
                await self._end_session()
                await self.close()
            else:
                raise p.ProtocolError(
                    "bad_message", "The message's type must be reset, step, state or close."
                )
        except p.ProtocolError as exc:
            await self._send(error(exc.code, exc.message))
        except Exception:
            log.exception("agent session failed")
            await self._send(error("internal", "The server could not do that; reset to go on."))

    async def _reset(self, data: Any) -> None:
        options = read(data)
        game = await Game.objects.filter(slug=options.game_name, enabled=True).afirst()
        if game is None or game.is_multi_seat or not game.is_atari:
            raise p.ProtocolError(
                "unknown_game",
                f"No one-player Atari game {options.game_name!r} here; see /metadata.",
            )
        if self.session is not None:
            await self.session.close("restarted")
        self.session = AgentSession(
            user=self.token.user, token_prefix=self.token.prefix, game=game, options=options
        )
        seen = await self.session.reset()
        await self._observation(seen)

    async def _step(self, data: Any) -> None:
        if self.session is None:
            raise p.ProtocolError("not_started", "Send reset first: there is no episode yet.")
        action = data.get("action_id") if isinstance(data, dict) else None
        if isinstance(action, bool) or not isinstance(action, int):
            raise p.ProtocolError("bad_action", 'A step names its action: {"action_id": 0}.')
        seen = await self.session.step(action)
        await self._observation(seen)

    async def _observation(self, seen: Seen) -> None:
        session = self.session
        assert session is not None and session.seat is not None
        await self._send(
            observation(seen, legal=session.seat.n_actions, obs_type=session.options.obs_type)
        )

    def _state(self) -> dict[str, Any]:
        session = self.session
        if session is None:
            return {"episode_id": None, "step_count": 0}
        options = session.options
        return {
            "episode_id": session.episode_id,
            "step_count": session.steps,
            "game_name": options.game_name,
            "obs_type": options.obs_type,
            "full_action_space": options.full_action_space,
            "mode": options.mode,
            "difficulty": options.difficulty,
            "repeat_action_probability": options.repeat_action_probability,
            "frameskip": options.frameskip,
        }

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))
