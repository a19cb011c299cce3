"""An agent's seat in a game of several seats, taken through the same waiting room as people's.

``reset`` asks the game's public waiting room for a seat (``play.lobby.seat_program``): the
room seats the program beside people in their browsers, other programs or AI policies, and
the reset is answered with the first frame once every seat is filled and the game starts (or
with ``lobby_cancelled`` when it never does). The room's match plays in real time on its own
clock, as it does for people: a ``step`` sets the seat's action and is answered with the next
frame the match shows, so a program that thinks slowly holds its action, as a person holds a
key. The episode is the room's, recorded and verified once for everyone at it, with the
program's seat held by its token's owner (kind ``agent``) and its name and version in the
episode's context.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from games.models import Game
from play import lobby
from play import protocol as p
from play.match import EndReason, Match
from play.rooms import Room
from play.seats import AgentSeat, Holder
from play.viewers import Viewer

from .options import Options
from .scope import agent_context
from .sessions import AgentScreen
from .wire import Observation

# Options a room's game sets for everyone at it, which a program's reset may not.
ROOMS_OWN = ("seed", "mode", "difficulty", "repeat_action_probability", "frameskip", "max_steps")


def check(options: Options, game: Game) -> None:
    """Refuse an option that would make this program's game differ from the others' at it."""
    defaults = Options(game_name=options.game_name)
    for name in (*ROOMS_OWN, "full_action_space"):
        if getattr(options, name) != getattr(defaults, name):
            raise p.ProtocolError(
                "bad_option",
                f"{game.slug} is played by several seats at once: its settings are the same for "
                f"everyone at it, so a reset may not set '{name}'.",
            )


class RoomSession:
    """One program's seat in a room: reset (wait for a game), step (in real time), close."""

    def __init__(self, *, user: Any, token_prefix: str, game: Game, options: Options) -> None:
        self.user = user
        self.token_prefix = token_prefix
        self.game = game
        self.options = options
        self.key = uuid.uuid4().hex
        self.room: Room | None = None
        self.screen: AgentScreen | None = None
        self.seat: AgentSeat | None = None
        self.index: int | None = None
        self.first: asyncio.Future[Observation] | None = None  # the start's frame
        self.steps = 0
        self.done = False
        self.episode_id = ""
        self.seed: int | None = None
        self.max_steps = 0

    async def reset(self) -> Observation:
        await self.close("restarted")
        config = await sync_to_async(self.game.config)()
        meanings = self.game.action_meanings
        holder = Holder("agent", user_id=self.user.pk, name=self.options.agent_name)
        self.seat = AgentSeat(n_actions=len(meanings), default_action=0, holder=holder)
        self.key = uuid.uuid4().hex
        frameskip = int(config.env_kwargs.get("frameskip", 1))

        def screen_for(match: Match, index: int) -> Viewer:
            self.index = index
            self.screen = AgentScreen(
                match, self.options.obs_type, len(meanings), frameskip, seat=index
            )
            self.first = self.screen.next()  # the start's frame, when every seat is filled
            return self.screen

        self.room = await lobby.seat_program(
            game=self.game,
            config=config,
            user=self.user,
            key=self.key,
            holder=holder,
            seat=self.seat,
            viewer_for=screen_for,
            context=agent_context(
                name=self.options.agent_name,
                version=self.options.agent_version,
                token_prefix=self.token_prefix,
            ),
        )
        assert self.first is not None
        conf = settings.ARCADE
        waits = float(conf["LOBBY_TIMEOUT_SECONDS"]) + float(config.start_countdown) + 30
        try:
            seen = await asyncio.wait_for(asyncio.shield(self.first), waits)
        except TimeoutError:
            raise p.ProtocolError(
                "lobby_cancelled", "The game did not start in time; reset to wait again."
            ) from None
        match = self.room.match
        assert match.episode is not None
        self.episode_id = match.episode.id
        self.seed = match.episode.seed
        self.max_steps = config.max_steps
        self.steps = 0
        self.done = False
        return seen

    async def step(self, action: int) -> Observation:
        if self.room is None or self.seat is None or self.screen is None:
            raise p.ProtocolError("not_started", "Send reset first: there is no episode yet.")
        if self.done:
            raise p.ProtocolError("episode_over", "The episode is over: send reset for a new one.")
        self.seat.act(action)
        seen = await self.screen.next()
        self.steps += 1
        self.done = seen.done
        return seen

    @property
    def seat_info(self) -> dict[str, Any]:
        """Which seat the program holds (for ``state``)."""
        if self.room is None or self.index is None:
            return {}
        return {"seat": self.index, "role": self.room.configs[self.index].role}

    async def close(self, reason: EndReason = "abandoned") -> None:
        """Let the seat go: before the game it is free again; mid-game the room goes on
        without the program, as without a person who left (``Room.leave_program``)."""
        room, self.room = self.room, None
        if self.screen is not None:
            self.screen.transport.attached = False  # type: ignore[misc]
        if room is not None:
            await lobby.leave_program(room, self.key)
