"""One client's agent sessions by name: what the socket and the HTTP sessions both serve.

A socket may hold several sessions (``data.session`` names one; the default is ""), each a
match of its own (``AgentSession``), counted against its token's and this process's limits
(``hosting``) from its first reset until it is closed, idle too long, or its socket goes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from games.engine.registry import atari_settings
from games.models import Game
from play import protocol as p

from . import seated
from .hosting import Held, hosting
from .options import Options, read
from .seated import RoomSession
from .sessions import AgentSession
from .wire import Observation

MAX_NAME = 64
# Told to a client when the server ends one of its sessions (idle): session, code, message.
Tell = Callable[[str, str, str], Awaitable[None]]


def session_name(data: Any) -> str:
    """The session a message is for ("" the default: OpenEnv's clients name none)."""
    name = data.get("session", "") if isinstance(data, dict) else ""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise p.ProtocolError(
            "bad_message", f"'session' names a session: text of at most {MAX_NAME} characters."
        )
    return name


async def playable(slug: str) -> Game:
    """An Atari game, of one seat (the program's own) or several (a seat in a room)."""
    # database_sync_to_async, not the async ORM: it closes a connection gone stale, which a
    # socket open for hours would otherwise meet (its messages skip Channels' check).
    game = await database_sync_to_async(Game.objects.filter(slug=slug, enabled=True).first)()
    if game is None or not game.is_atari:
        raise p.ProtocolError(
            "unknown_game", f"No Atari game {slug!r} here; see /metadata for them."
        )
    return game


async def session_for(token: Any, game: Game, options: Options) -> AgentSession | RoomSession:
    """A session of its own for a one-player game; a seat in a room for a game of several."""
    if game.is_multi_seat:
        seated.check(options, game)
        return RoomSession(
            user=token.user,
            token_prefix=token.prefix,
            game=game,
            options=options,
            idle=float(token.idle_seconds),
        )
    options.check(await asyncio.to_thread(atari_settings, game.env_id))
    return AgentSession(user=token.user, token_prefix=token.prefix, game=game, options=options)


@dataclass(eq=False)
class Open:
    session: AgentSession | RoomSession
    held: Held


class Desk:
    def __init__(self, token: Any, tell: Tell) -> None:
        self.token = token
        self.tell = tell
        self.sessions: dict[str, Open] = {}

    async def reset(self, name: str, data: Any) -> Observation:
        options = read({k: v for k, v in data.items() if k != "session"})
        session = await session_for(self.token, await playable(options.game_name), options)
        current = self.sessions.get(name)
        if current is None:
            held = await hosting().open(self.token, functools.partial(self._expire, name))
            current = self.sessions[name] = Open(session, held)
        else:
            await current.session.close("restarted")
            current.session = session
        try:
            with current.held.using():
                return await session.reset()
        except BaseException:
            await self.close(name)  # nothing half-open: its episode, if any, ended as it failed
            raise

    async def step(self, name: str, data: Any) -> Observation:
        current = self._open(name)
        action = data.get("action_id") if isinstance(data, dict) else None
        if isinstance(action, bool) or not isinstance(action, int):
            raise p.ProtocolError("bad_action", 'A step names its action: {"action_id": 0}.')
        with current.held.using():
            hosting().step(self.token)
            return await current.session.step(action)

    def state(self, name: str) -> dict[str, Any]:
        current = self.sessions.get(name)
        if current is None:
            state: dict[str, Any] = {"episode_id": None, "step_count": 0}
        else:
            current.held.touch()
            session, options = current.session, current.session.options
            state = {
                "episode_id": session.episode_id,
                "step_count": session.steps,
                "game_name": options.game_name,
                "obs_type": options.obs_type,
                "full_action_space": options.full_action_space,
                "mode": options.mode,
                "difficulty": options.difficulty,
                "repeat_action_probability": options.repeat_action_probability,
                "frameskip": options.frameskip,
                "seed": session.seed,
                "max_steps": session.max_steps,
                "encoding": options.encoding,
                "done": session.done,
            }
            if isinstance(session, RoomSession):
                state.update(session.seat_info)
        if name:
            state["session"] = name
        return state

    def waits(self, name: str) -> bool:
        """Whether the session's steps wait for a clock of their own (a seat in a room)."""
        current = self.sessions.get(name)
        return current is not None and isinstance(current.session, RoomSession)

    def encoding(self, name: str) -> str:
        current = self.sessions.get(name)
        return current.session.options.encoding if current is not None else "json"

    async def close(self, name: str) -> None:
        """End a session now, every step kept (a running episode ends as abandoned)."""
        current = self.sessions.pop(name, None)
        if current is not None:
            try:
                await current.session.close("abandoned")
            finally:
                await hosting().close(current.held)

    async def close_all(self) -> None:
        for name in list(self.sessions):
            await self.close(name)

    def _open(self, name: str) -> Open:
        current = self.sessions.get(name)
        if current is None:
            which = f"session {name!r}" if name else "this session"
            raise p.ProtocolError("not_started", f"Send reset first: {which} has no episode yet.")
        return current

    async def _expire(self, name: str) -> None:
        current = self.sessions.get(name)
        if current is None:
            return
        await self.close(name)
        await self.tell(
            name,
            "idle_timeout",
            f"No message for {self.token.idle_seconds} s: the session was closed, its episode "
            "kept; reset to play again.",
        )
