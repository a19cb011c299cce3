"""A room: one match of several seats, from its waiting room to its end.

Players who open a multi-seat game are matched first come, first served (``play/lobby.py``)
into a room hosted on one web process. The room seats them, fills seats with AI policies as
the game's seat configuration says (a policy from the start, or after a person has not come
for ``human_timeout`` seconds), counts down and starts the match for everyone. Mid-game, a
person whose socket drops has the reconnect grace to come back; then the game's ``on_leave``
decides: an AI takes the seat over (recorded from that step), the game ends abandoned, or
(``end``) it ends at once for everyone.

Sockets reach a room directly on its own process, or through its hub channel from another
(``play/hub.py``): the room treats both alike, through their viewers' transports.

A program (the agent API) takes a seat through the same waiting room: its seat and its screen
are built by its app and handed in (``seat_program``). It counts as a player, but it has no
reconnect grace: a program that goes mid-game is gone, and its seat goes as a person's would
after the grace (an AI takes it over, or the game ends).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from games.engine.machines import GameConfig, SeatConfig

from . import hub as hubs
from . import protocol as p
from .match import Match
from .seats import Holder, HumanSeat, Seat
from .viewers import Spectators, Transport, Viewer

log = logging.getLogger(__name__)

RoomState = Literal["waiting", "starting", "playing", "over"]
# Builds the AI that fills (or takes over) seat ``index``: the seat's policy, or a random one.
PolicyMaker = Callable[[int], Awaitable[Seat]]


@dataclass
class Occupant:
    """A person in a seat of the room, with their screen."""

    user_id: int
    name: str
    viewer: Viewer
    away: asyncio.TimerHandle | None = None  # their socket dropped mid-game: the grace runs


@dataclass
class Program:
    """A program in a seat of the room, with its screen (``key``: its session, so that two
    programs of one owner hold two seats)."""

    key: str
    name: str
    viewer: Viewer
    context: dict[str, Any]  # what the episode's context says of it


@dataclass
class Joined:
    seat: int
    config: SeatConfig
    viewer: Viewer


@dataclass
class Refused:
    code: str
    text: str


@dataclass
class RoomTimers:
    lobby: float  # seconds the room waits for its seats before it is cancelled
    countdown: float  # seconds between the seats filling and the first step
    grace: float  # seconds a player who dropped mid-game has to come back


@dataclass
class _Ai:
    """A seat filled by a policy, not a person."""

    name: str


class Room:
    def __init__(
        self,
        *,
        game: GameConfig,
        match: Match,
        policies: PolicyMaker,
        timers: RoomTimers,
        on_close: Callable[[Room], None],
    ) -> None:
        self.id = uuid.uuid4().hex
        self.game = game
        self.match = match
        self.policies = policies
        self.timers = timers
        self.on_close = on_close
        self.state: RoomState = "waiting"
        self.configs = list(game.seats) or [SeatConfig(index=0)]
        self.people: dict[int, Occupant] = {}
        self.ai: dict[int, _Ai] = {}
        self.programs: dict[int, Program] = {}
        self.spectators = Spectators(match)
        self.address: hubs.Address | None = None
        self.lobby_key = ""  # where its address is advertised while it has free seats
        self.episode_id: str | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = asyncio.Event()

    # --- the waiting room ------------------------------------------------------------------

    def open(self) -> None:
        """Start the room's clocks: AI seats now, people's fallbacks later, the lobby's end."""
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self.timers.lobby, self._lobby_expired))
        for config in self.configs:
            if config.fill == "policy":
                self._background(self._fill_with_ai(config.index))
            elif config.fill == "human_or_policy":
                self._timers.append(
                    loop.call_later(config.human_timeout, self._ai_fallback, config.index)
                )

    def _ai_fallback(self, index: int) -> None:
        self._background(self._fill_with_ai(index))

    @property
    def size(self) -> int:
        return len(self.configs)

    @property
    def filled(self) -> int:
        return len(self.people) + len(self.ai) + len(self.programs)

    @property
    def open_for_people(self) -> bool:
        return self.state == "waiting" and self._free_seat() is not None

    def _free_seat(self) -> int | None:
        for config in self.configs:
            index = config.index
            if self._taken(index) or config.fill == "policy":
                continue
            return index
        return None

    def _taken(self, index: int) -> bool:
        return index in self.people or index in self.ai or index in self.programs

    def seat_of(self, user_id: int) -> int | None:
        for index, occupant in self.people.items():
            if occupant.user_id == user_id:
                return index
        return None

    async def join(self, *, user_id: int, name: str, transport: Transport) -> Joined | Refused:
        """Seat a person (or give a dropped player their seat back)."""
        seat = self.seat_of(user_id)
        if seat is not None:
            occupant = self.people[seat]
            if occupant.away is None:
                return Refused("seated", "You already hold a seat in this game (another tab?).")
            return await self._come_back(seat, occupant, transport)
        if self.state != "waiting":
            return Refused("full", "That game has started; join the next one.")
        seat = self._free_seat()
        if seat is None:
            return Refused("full", "Every seat of that game is taken.")
        viewer = Viewer(transport, window=self.match.settings.window, seat=seat)
        self.people[seat] = Occupant(user_id=user_id, name=name, viewer=viewer)
        self.match.seats[seat] = self.match.human_seat(
            seat, holder=Holder("human", user_id=user_id, name=name)
        )
        self.match.viewers.append(viewer)
        await transport.send_json(self.seat_message(seat))
        await self._announce()
        self._start_when_full()
        return Joined(seat, self.configs[seat], viewer)

    def seat_message(self, seat: int) -> dict[str, Any]:
        """Which seat is theirs: its keys, who it is on the screen, how to play it."""
        config = self.configs[seat]
        chosen = self.match.seats[seat]
        return {
            "type": "seat",
            "seat": seat,
            "role": config.role,
            "instructions": config.instructions,
            "keys": chosen.keymap.codes if isinstance(chosen, HumanSeat) else [],
        }

    async def seat_program(
        self,
        *,
        key: str,
        holder: Holder,
        seat: Seat,
        viewer_for: Callable[[Match, int], Viewer],
        context: dict[str, Any],
    ) -> Joined | Refused:
        """Seat a program: ``seat`` plays, the screen ``viewer_for(match, index)`` builds sees."""
        if self.state != "waiting":
            return Refused("full", "That game has started; reset to wait for the next one.")
        index = self._free_seat()
        if index is None:
            return Refused("full", "Every seat of that game is taken.")
        viewer = viewer_for(self.match, index)
        self.programs[index] = Program(key=key, name=holder.name, viewer=viewer, context=context)
        self.match.seats[index] = seat
        self.match.viewers.append(viewer)
        await self._announce()
        self._start_when_full()
        return Joined(index, self.configs[index], viewer)

    def program_context(self) -> dict[str, Any]:
        """What the seated programs' contexts say, the lowest seat's first where they differ."""
        merged: dict[str, Any] = {}
        for index in sorted(self.programs, reverse=True):
            merged.update(self.programs[index].context)
        return merged

    async def leave_program(self, key: str) -> None:
        """A program's session ends (closed, reset, its socket gone). Before the game its seat
        is free again; mid-game it goes at once, as a person after the grace."""
        index = next((i for i, program in self.programs.items() if program.key == key), None)
        if index is None:
            return
        program = self.programs.pop(index)
        self.match.unwatch(program.viewer)
        if self.state in ("waiting", "starting"):
            self.match.seats[index] = self.match.human_seat(index)
            await self._seat_freed()
            return
        if self.state != "playing":
            return
        if self.game.on_leave in ("end", "abandon") or not self._others_here(index):
            await self._end("abandoned")
            return
        await self._ai_takes_over(index)

    async def _seat_freed(self) -> None:
        """A seat is free again before the game: the countdown stops, or nobody is left."""
        if self.state == "starting":
            self.state = "waiting"  # the countdown stops; the room waits again
        if not self.people and not self.programs:
            await self.cancel("everyone left")
            return
        await self._announce()

    async def leave(self, *, user_id: int) -> None:
        """A person leaves (closed the page, pressed Leave, or their socket dropped)."""
        seat = self.seat_of(user_id)
        if seat is None:
            return
        occupant = self.people[seat]
        if self.state in ("waiting", "starting"):
            # Before the game: the place is free again at once.
            del self.people[seat]
            self.match.unwatch(occupant.viewer)
            hubs.release(occupant.viewer.transport)
            self.match.seats[seat] = self.match.human_seat(seat)
            await self._seat_freed()
            return
        if self.state != "playing" or occupant.away is not None:
            return
        hubs.release(occupant.viewer.transport)
        occupant.viewer.transport = _Away()
        # Marked away before anything is awaited: a partner leaving meanwhile must see it.
        grace = self.timers.grace
        occupant.away = asyncio.get_running_loop().call_later(
            grace, lambda: self._background(self._away_too_long(seat))
        )
        if self.game.on_leave == "end" or not self._others_here(seat):
            occupant.away.cancel()
            await self._end("abandoned")
            return
        await self.match.pause("reconnect")
        await self._broadcast(self._away_message(seat, occupant))

    def _away_message(self, seat: int, occupant: Occupant) -> dict[str, Any]:
        """The game stands still for this person, whose socket dropped, for the grace left."""
        assert occupant.away is not None
        left = occupant.away.when() - asyncio.get_running_loop().time()
        return {
            "type": "seat",
            "seat": seat,
            "state": "away",
            "grace": max(0, math.ceil(left)),
            "name": occupant.name,
        }

    async def _tell_who_is_away(self, transport: Transport, *, but: int | None = None) -> None:
        """A screen that arrives mid-pause (a spectator, a player back) learns why the game
        stands still, as the others did when it paused."""
        for index, occupant in list(self.people.items()):
            if index != but and occupant.away is not None:
                await transport.send_json(self._away_message(index, occupant))

    def _others_here(self, seat: int) -> bool:
        """Someone other than the player at ``seat`` is still at the game."""
        return any(
            index != seat and occupant.away is None for index, occupant in self.people.items()
        ) or any(index != seat for index in self.programs)

    async def _come_back(self, seat: int, occupant: Occupant, transport: Transport) -> Joined:
        assert occupant.away is not None
        occupant.away.cancel()
        occupant.away = None
        occupant.viewer.transport = transport
        self.match.seats[seat].reset(0)
        await transport.send_json(self.seat_message(seat))
        await self.match.watch_again(occupant.viewer)
        await self._tell_who_is_away(transport, but=seat)
        await self._broadcast(
            {"type": "seat", "seat": seat, "state": "back", "name": occupant.name}
        )
        if all(person.away is None for person in self.people.values()):
            self.match.begin()
        return Joined(seat, self.configs[seat], occupant.viewer)

    async def _away_too_long(self, seat: int) -> None:
        occupant = self.people.get(seat)
        if occupant is None or occupant.away is None or self.state != "playing":
            return
        if self.game.on_leave == "abandon":
            await self._end("abandoned")
            return
        # The AI takes the seat over from the next step; the person's row ends there.
        del self.people[seat]
        self.match.unwatch(occupant.viewer)
        if not self._others_here(seat):
            await self._end("abandoned")  # nobody left to play for
            return
        await self._ai_takes_over(seat)

    async def _ai_takes_over(self, seat: int) -> None:
        """The AI plays ``seat`` from the next step (the recording says so from there); play
        goes on once nobody else is away."""
        ai = await self.policies(seat)
        await self.match.replace_seat(seat, ai)
        self.ai[seat] = _Ai(ai.holder.name)
        await self._broadcast({"type": "seat", "seat": seat, "state": "ai", "name": ai.holder.name})
        if all(person.away is None for person in self.people.values()):
            self.match.begin()

    async def _fill_with_ai(self, index: int) -> None:
        if self.state != "waiting" or self._taken(index):
            return
        try:
            ai = await self.policies(index)
        except Exception:
            log.exception("no AI for seat %d of %s", index, self.game.slug)
            return
        if self.state != "waiting" or self._taken(index):
            return
        self.match.seats[index] = ai
        self.ai[index] = _Ai(ai.holder.name)
        await self._announce()
        self._start_when_full()

    def _start_when_full(self) -> None:
        if self.state == "waiting" and self.filled == self.size and (self.people or self.programs):
            self.state = "starting"
            self._background(self._count_down())

    async def _count_down(self) -> None:
        await self._announce(countdown=self.timers.countdown)
        await asyncio.sleep(self.timers.countdown)
        if self.state != "starting" or self.filled != self.size:
            return  # someone left during the countdown: back to waiting
        self.state = "playing"
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        self.match.on_end = self._ended
        try:
            started = await self.match.start()
        except Exception:
            log.exception("could not start a match of %s", self.game.slug)
            await self._broadcast(
                p.ErrorMessage(
                    type="error", code="start_failed", message="The game could not be started."
                )
            )
            await self.close()
            return
        if not started or self.match.episode is None:
            await self.close()
            return
        self.episode_id = self.match.episode.id
        if self.address is not None:
            await hubs.publish(self.address, episode=self.episode_id)
        self.match.begin()

    def _lobby_expired(self) -> None:
        if self.state in ("waiting", "starting"):
            self._background(self.cancel("nobody else came"))

    async def cancel(self, why: str) -> None:
        """The match never started: no episode, everyone still here is told."""
        if self.state not in ("waiting", "starting"):
            return
        self.state = "over"
        await self._broadcast(
            {"type": "lobby", "state": "cancelled", "reason": why, "seats": self.size}
        )
        await self.close()

    # --- spectators ------------------------------------------------------------------------

    async def watch(self, transport: Transport) -> Viewer:
        viewer = await self.spectators.watch(transport, window=self.match.settings.window)
        await self._tell_who_is_away(transport)
        return viewer

    def unwatch(self, viewer: Viewer) -> None:
        self.spectators.unwatch(viewer)

    # --- input from the seats ---------------------------------------------------------------

    def seat_for_input(self, user_id: int, msg: p.InputMessage) -> int:
        """The seat this person's input acts on; ProtocolError when it names another."""
        seat = self.seat_of(user_id)
        if seat is None:
            raise p.ProtocolError("not_seated", "You hold no seat in this game.")
        if msg.get("seat", seat) != seat:
            raise p.ProtocolError("wrong_seat", "That is not your seat; input ignored.")
        return seat

    # --- the end ---------------------------------------------------------------------------

    async def _end(self, reason: p.EndReason) -> None:
        await self.match.stop(reason, notify=True)

    def _ended(self, reason: p.EndReason) -> None:
        self._background(self.close())

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.state = "over"
        for timer in self._timers:
            timer.cancel()
        for occupant in self.people.values():
            if occupant.away is not None:
                occupant.away.cancel()
        if self.match.episode is not None:
            await self.match.stop("abandoned", notify=True)
        for viewer in self.match.viewers:
            hubs.release(viewer.transport)
        self.on_close(self)

    # --- telling everyone -------------------------------------------------------------------

    def lobby_message(self, *, countdown: float | None = None) -> dict[str, Any]:
        seats = []
        for config in self.configs:
            index = config.index
            if index in self.people:
                who = {"kind": "human", "name": self.people[index].name}
            elif index in self.ai:
                who = {"kind": "ai", "name": self.ai[index].name}
            elif index in self.programs:
                who = {"kind": "agent", "name": self.programs[index].name}
            else:
                who = {"kind": "open", "name": ""}
            seats.append({"seat": index, "role": config.role, **who})
        return {
            "type": "lobby",
            "state": self.state,
            "seats": self.size,
            "filled": self.filled,
            "people": len(self.people),
            "countdown": countdown,
            "who": seats,
        }

    async def _announce(self, *, countdown: float | None = None) -> None:
        await self._broadcast(self.lobby_message(countdown=countdown))

    async def _broadcast(self, message: p.ServerMessage | dict[str, Any]) -> None:
        for occupant in list(self.people.values()):
            await occupant.viewer.transport.send_json(message)
        for program in list(self.programs.values()):
            await program.viewer.transport.send_json(message)
        for viewer in list(self.spectators.viewers):
            await viewer.transport.send_json(message)

    def _background(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Away:
    """The transport of a seat whose person's socket dropped: nothing reaches them."""

    attached = False

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def send_json(self, message: Any) -> None:
        pass
