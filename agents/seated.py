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

A room lives on the web process that opened it. When the game's open room is another
process's, the session asks that process to hold its seat (``program.*`` requests through the
post office, ``play/hub.py``, served by ``serve`` there): its seat and screen live beside the
room, and each step is one round trip. The host lets a seat go that its session stopped asking
for (its process went) after the token's idle time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.models import User
from games.engine.machines import GameConfig
from games.models import Game
from play import hub as hubs
from play import lobby
from play import protocol as p
from play.match import EndReason, Match
from play.rooms import Room
from play.seats import AgentSeat, Holder
from play.viewers import Viewer

from . import wire
from .options import Options
from .scope import agent_context
from .sessions import AgentScreen
from .wire import Observation

# Options a room's game sets for everyone at it, which a program's reset may not.
ROOMS_OWN = ("seed", "mode", "difficulty", "repeat_action_probability", "frameskip", "max_steps")
ATTEMPTS = 3  # rooms on other processes tried before the program is told to reset again


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


def _waits(config: GameConfig) -> float:
    """How long a reset waits for the room's other seats, its countdown, and then some."""
    return float(settings.ARCADE["LOBBY_TIMEOUT_SECONDS"]) + float(config.start_countdown) + 30


def _step_waits() -> float:
    """How long a step may wait for its frame: the game stands still while a person who
    dropped has their grace."""
    return float(settings.ARCADE["RECONNECT_GRACE_SECONDS"]) + 30


class RoomSession:
    """One program's seat in a room: reset (wait for a game), step (in real time), close."""

    def __init__(
        self, *, user: Any, token_prefix: str, game: Game, options: Options, idle: float = 300
    ) -> None:
        self.user = user
        self.token_prefix = token_prefix
        self.game = game
        self.options = options
        self.idle = idle  # how long a host keeps a seat its session stopped asking for
        self.key = uuid.uuid4().hex
        self.room: Room | None = None  # the room, when this process hosts it
        self.there: hubs.Address | None = None  # the room, when another process hosts it
        self.screen: AgentScreen | None = None
        self.seat: AgentSeat | None = None
        self.index: int | None = None
        self.role = ""
        self.first: asyncio.Future[Observation] | None = None  # the start's frame
        self.steps = 0
        self.done = False
        self.episode_id = ""
        self.seed: int | None = None
        self.max_steps = 0
        self.played: dict[str, Any] = {}  # the room's settings of ROOMS_OWN, for ``state``

    async def reset(self, *, room: Room | None = None) -> Observation:
        """Wait in the game's waiting room for a game, and its first frame (in ``room``: the
        room of this process another process asked for a seat in)."""
        await self.close("restarted")
        config = await sync_to_async(self.game.config)()
        # The game's settings are everyone's: what the session's state says it plays with.
        kwargs = config.env_kwargs
        self.played = {
            "frameskip": int(kwargs.get("frameskip", 1)),
            "mode": kwargs.get("mode"),
            "difficulty": kwargs.get("difficulty"),
            "repeat_action_probability": float(kwargs.get("repeat_action_probability", 0.0)),
        }
        for _ in range(ATTEMPTS):
            self.key = uuid.uuid4().hex
            try:
                return await self._seat_here(config, room)
            except lobby.Elsewhere as elsewhere:
                seen = await self._seat_there(config, elsewhere.address)
                if seen is not None:
                    return seen
        raise p.ProtocolError("busy", "Could not find a seat just now; reset to try again.")

    async def _seat_here(self, config: GameConfig, room: Room | None) -> Observation:
        meanings = self.game.action_meanings
        holder = Holder("agent", user_id=self.user.pk, name=self.options.agent_name)
        self.seat = AgentSeat(n_actions=len(meanings), default_action=0, holder=holder)
        frameskip = self.played["frameskip"]

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
            room=room,
        )
        assert self.first is not None and self.index is not None
        self.role = self.room.configs[self.index].role
        try:
            seen = await asyncio.wait_for(asyncio.shield(self.first), _waits(config))
        except TimeoutError:
            raise p.ProtocolError(
                "lobby_cancelled", "The game did not start in time; reset to wait again."
            ) from None
        match = self.room.match
        assert match.episode is not None
        self._started(match.episode.seed, config.max_steps, seen)
        return seen

    async def _seat_there(self, config: GameConfig, address: hubs.Address) -> Observation | None:
        """Ask the process hosting the open room for a seat; None when it has none now (the
        room filled or ended meanwhile: look again)."""
        asked = hubs.request(
            address,
            {
                "type": "program.seat",
                "key": self.key,
                "user": self.user.pk,
                "token_prefix": self.token_prefix,
                "game": self.game.slug,
                "options": dataclasses.asdict(self.options),
                "idle": self.idle,
            },
            timeout=_waits(config) + 10,
        )
        try:
            reply = await asked
        except BaseException:  # the session went while it waited: the host lets the seat go
            await hubs.tell(address, {"type": "program.leave", "key": self.key})
            raise
        if reply.get("type") != "program.seen":
            # Refused, or no answer in time: a seat the host may still hold is let go.
            await hubs.tell(address, {"type": "program.leave", "key": self.key})
            if reply.get("code") in ("busy", "gone", "full"):
                return None
            raise p.ProtocolError(str(reply.get("code")), str(reply.get("text", "")))
        self.there = address
        self.index, self.role = int(reply["seat"]), str(reply["role"])
        seen = wire.crossed(reply["seen"])
        self._started(reply["seed"], config.max_steps, seen)
        return seen

    def _started(self, seed: int | None, max_steps: int, seen: Observation) -> None:
        self.episode_id = seen.episode_id
        self.seed = seed
        self.max_steps = max_steps
        self.steps = 0
        self.done = False

    async def step(self, action: int) -> Observation:
        if self.done and (self.room is not None or self.there is not None):
            raise p.ProtocolError("episode_over", "The episode is over: send reset for a new one.")
        if self.there is not None:
            seen = await self._step_there(self.there, action)
        elif self.room is not None and self.seat is not None and self.screen is not None:
            self.seat.act(action)
            seen = await self.screen.next()
        else:
            raise p.ProtocolError("not_started", "Send reset first: there is no episode yet.")
        self.steps += 1
        self.done = seen.done
        return seen

    async def _step_there(self, address: hubs.Address, action: int) -> Observation:
        reply = await hubs.request(
            address,
            {"type": "program.step", "key": self.key, "action": action},
            timeout=_step_waits(),
        )
        if reply.get("type") == "program.seen":
            return wire.crossed(reply["seen"])
        code = str(reply.get("code"))
        if code in ("gone", "full"):  # its host is gone: the game went with it
            self.done = True
            raise p.ProtocolError("episode_over", "The game ended (its server went away).")
        raise p.ProtocolError(code, str(reply.get("text", "")))

    @property
    def seat_info(self) -> dict[str, Any]:
        """Which seat the program holds and the room's settings it plays with (for ``state``:
        the session's own options of those the room refused)."""
        if self.index is None:
            return {}
        return {**self.played, "seat": self.index, "role": self.role}

    async def close(self, reason: EndReason = "abandoned") -> None:
        """Let the seat go: before the game it is free again; mid-game the room goes on
        without the program, as without a person who left (``Room.leave_program``)."""
        room, self.room = self.room, None
        there, self.there = self.there, None
        if self.screen is not None:
            self.screen.transport.attached = False  # type: ignore[misc]
            # A reset or step still waiting for a frame is told (a host's, asked from afar).
            self.screen.fail(p.ProtocolError("episode_over", "The session was closed."))
        if room is not None:
            await lobby.leave_program(room, self.key)
        if there is not None:
            await hubs.tell(there, {"type": "program.leave", "key": self.key})


# --- seats held here for sessions on other processes ----------------------------------------


@dataclasses.dataclass(eq=False)
class _Held:
    session: RoomSession
    lapse: asyncio.TimerHandle | None = None


_held: dict[str, _Held] = {}
_tasks: set[asyncio.Task[Any]] = set()


async def serve(room: Room, message: dict[str, Any]) -> None:
    """A program's request from the process its session is on, for its seat in ``room``
    (``play.lobby.host_programs``; each in a task of its own)."""
    kind, key = message.get("type"), str(message.get("key", ""))
    if kind == "program.leave":
        await _let_go(key)
        return
    try:
        if kind == "program.seat":
            reply = await _seat(room, key, message)
        elif kind == "program.step":
            reply = await _step(key, message)
        else:
            return
    except p.ProtocolError as exc:
        reply = {"type": "program.refused", "code": exc.code, "text": exc.message}
    if "reply" in message:
        await hubs.reply(message["reply"], reply)


async def _seat(room: Room, key: str, message: dict[str, Any]) -> dict[str, Any]:
    user = await User.objects.aget(pk=int(message["user"]))
    game = await Game.objects.aget(slug=str(message["game"]))
    session = RoomSession(
        user=user,
        token_prefix=str(message["token_prefix"]),
        game=game,
        options=Options(**message["options"]),
        idle=float(message.get("idle", 300)),
    )
    held = _held[key] = _Held(session)
    _keep(key, held)
    try:
        seen = await session.reset(room=room)
    except BaseException:
        await _let_go(key)
        raise
    return {
        "type": "program.seen",
        "seen": wire.crossing(seen),
        "seat": session.index,
        "role": session.role,
        "seed": session.seed,
    }


async def _step(key: str, message: dict[str, Any]) -> dict[str, Any]:
    held = _held.get(key)
    if held is None:
        raise p.ProtocolError("episode_over", "The game ended; reset for a new one.")
    _keep(key, held)
    action = message.get("action")
    if isinstance(action, bool) or not isinstance(action, int):
        raise p.ProtocolError("bad_action", 'A step names its action: {"action_id": 0}.')
    return {"type": "program.seen", "seen": wire.crossing(await held.session.step(action))}


def _keep(key: str, held: _Held) -> None:
    """The seat is asked for: it is kept for its session's idle time from now."""
    if held.lapse is not None:
        held.lapse.cancel()
    held.lapse = asyncio.get_running_loop().call_later(
        held.session.idle, lambda: _background(_let_go(key))
    )


async def _let_go(key: str) -> None:
    held = _held.pop(key, None)
    if held is not None:
        if held.lapse is not None:
            held.lapse.cancel()
        await held.session.close()


def _background(work: Any) -> None:
    task = asyncio.ensure_future(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
