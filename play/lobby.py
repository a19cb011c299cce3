"""The waiting room: people who open a multi-seat game are seated first come, first served.

Each waiting room has at most one room open for people at a time, across every web process:
Redis key ``arcade:lobby:<game>`` holds its address (``play/hub.py``); a waiting room of its
own (a study block's, named by ``play/contexts.py``) is ``arcade:lobby:<game>:<name>``, so
that only the people it names meet there. A player who finds none
hosts a new room on their own process (set only if still absent, so two processes cannot
both open one); a player who finds one asks its host for a seat. A room that fills (or
starts, or ends) withdraws its address, and one that has a free seat again (someone left
the waiting room) puts it back, if no other room has opened meanwhile.

A seat is reached through a ``Link``: the room itself on its own process, or its hub's
channel from another.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from games.engine.deciding import DecisionThread
from games.engine.machines import GameConfig, SeatConfig
from games.engine.registry import is_board
from games.models import Game, Policy
from games.services import policy_build

from . import contexts, engine
from . import hub as hubs
from . import protocol as p
from .match import Match, human_seat
from .rooms import Joined, Refused, Room, RoomTimers
from .seats import Holder, PolicySeat, Seat
from .sink import DjangoSink
from .viewers import Spectators, Transport, Viewer

log = logging.getLogger(__name__)

LOBBY_KEY = "arcade:lobby:{}"


def lobby_key(game_slug: str, waiting_room: str = "") -> str:
    key = LOBBY_KEY.format(game_slug)
    return f"{key}:{waiting_room}" if waiting_room else key


LOBBY_TTL = 3600
ATTEMPTS = 5  # rooms tried before a player is told to try again
# Deletes the lobby's address only if it is still this room's (another may have opened since).
_WITHDRAW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_rooms: dict[str, Room] = {}  # the rooms hosted on this process, by id
# What spectators may watch here, by id: the rooms, and one-player matches (``Solo``).
_watched: dict[str, Room | Solo] = {}
_forgetting: set[asyncio.Future[None]] = set()


def rooms() -> list[Room]:
    return list(_rooms.values())


async def forget_all() -> None:
    """Withdraw every game's waiting room from Redis (tests start from an empty lobby)."""

    def work() -> None:
        redis = hubs.redis()
        keys = list(redis.scan_iter(LOBBY_KEY.format("*")))
        if keys:
            redis.delete(*keys)

    await asyncio.to_thread(work)


@functools.cache
def decisions() -> DecisionThread:
    """The thread AI seats decide on (onnxruntime releases the GIL, so a tick never waits): one
    a process, which stays, and runs the decisions of one model handed off together as one
    batch (bench/policies.py: a third less CPU a step than a pool task each)."""
    return DecisionThread(batch=True)


class Link(Protocol):
    seat: int
    config: SeatConfig

    async def input(self, msg: p.InputMessage) -> None: ...
    async def ack(self, frame: int) -> None: ...
    async def keyframe(self) -> None: ...
    async def leave(self) -> None: ...


class LocalLink:
    """A seat in a room of this process: calls go straight to the room."""

    def __init__(self, room: Room, joined: Joined, user_id: int) -> None:
        self.room = room
        self.seat = joined.seat
        self.config = joined.config
        self.user_id = user_id

    async def input(self, msg: p.InputMessage) -> None:
        seat = self.room.seat_for_input(self.user_id, msg)
        self.room.match.on_input(msg, seat=seat)

    async def ack(self, frame: int) -> None:
        self.room.match.on_ack(frame, seat=self.seat)

    async def keyframe(self) -> None:
        self.room.match.on_keyframe_request(seat=self.seat)

    async def leave(self) -> None:
        await self.room.leave(user_id=self.user_id)
        await _advertise_if_open(self.room)


class RemoteLink:
    """A seat in a room of another process: calls go to its hub's channel."""

    def __init__(self, address: hubs.Address, seat: int, config: SeatConfig, user_id: int) -> None:
        self.address = address
        self.seat = seat
        self.config = config
        self.user_id = user_id

    async def input(self, msg: p.InputMessage) -> None:
        if not await hubs.tell(
            self.address, {"type": "room.input", "user": self.user_id, "msg": msg}
        ):
            raise p.ProtocolError("busy", "The game is not taking input just now; press again.")

    async def ack(self, frame: int) -> None:
        await hubs.tell(self.address, {"type": "room.ack", "user": self.user_id, "frame": frame})

    async def keyframe(self) -> None:
        await hubs.tell(self.address, {"type": "room.keyframe", "user": self.user_id})

    async def leave(self) -> None:
        await hubs.tell(self.address, {"type": "room.leave", "user": self.user_id})


# --- finding a seat ------------------------------------------------------------------------


async def take_seat(
    *,
    game: Game,
    config: GameConfig,
    user: Any,
    transport: Transport,
    channel: str,
    subscribe: Callable[[], Awaitable[None]],
) -> LocalLink | RemoteLink:
    """Seat ``user`` in the game's open room (hosting one when there is none); ProtocolError
    when no seat could be had. ``transport`` is the socket (for a room of this process),
    ``channel`` its channel-layer name and ``subscribe`` its relay's start (for a room of
    another process: called before the room is asked, so nothing it sends is lost)."""
    name = user.public_name  # what the others in the room see
    waiting_room = await database_sync_to_async(contexts.waiting_room)(user, game)
    key = lobby_key(config.slug, waiting_room)
    for _ in range(ATTEMPTS):
        address = await _open_room(game, config, user, key)
        if address is None:
            continue  # another process opened one meanwhile: join that
        if hubs.hub().local(address):
            room = _rooms[address.room]
            answer = await room.join(user_id=user.pk, name=name, transport=transport)
            if isinstance(answer, Joined):
                await _withdraw_if_closed(room)
                return LocalLink(room, answer, user.pk)
        else:
            await subscribe()
            reply = await hubs.request(
                address, {"type": "room.join", "user": user.pk, "name": name, "consumer": channel}
            )
            if reply["type"] == "room.joined":
                seat_config = SeatConfig(**reply["config"])
                return RemoteLink(address, reply["seat"], seat_config, user.pk)
            answer = Refused(reply.get("code", "gone"), reply.get("text", ""))
        if answer.code == "seated":
            raise p.ProtocolError("seated", answer.text)
        # Full or gone: that room is no longer open; look again (it withdrew, or we do).
        await _eval(_WITHDRAW, key, address.dumps())
    raise p.ProtocolError("busy", "Could not find a seat just now; press Play to try again.")


class Elsewhere(Exception):
    """The game's open waiting room is hosted by another process, at ``address``: a program
    asks for its seat there (``program.*`` requests, served by the app that hosts programs)."""

    def __init__(self, address: hubs.Address) -> None:
        super().__init__(f"the waiting room is at {address.dumps()}")
        self.address = address


# Serves a program's requests for its seat in a room of this process, from the process its
# session is on (``host_programs``): the agents app's.
ProgramHost = Callable[[Room, dict[str, Any]], Awaitable[None]]
_program_hosts: list[ProgramHost] = []


def host_programs(host: ProgramHost) -> None:
    """Register what serves ``program.*`` requests to this process's rooms (in a task each:
    a seat's request waits for the game to start, and the post office must go on meanwhile)."""
    if host not in _program_hosts:
        _program_hosts.append(host)


async def seat_program(
    *,
    game: Game,
    config: GameConfig,
    user: Any,
    key: str,
    holder: Holder,
    seat: Seat,
    viewer_for: Callable[[Match, int], Viewer],
    context: dict[str, Any],
    room: Room | None = None,
) -> Room:
    """Seat a program (the agent API, as ``user``'s) in the game's public waiting room, hosting
    one when there is none, or in ``room`` (asked from another process): the room. ``key``
    names its session, ``seat`` plays for it and ``viewer_for`` builds its screen; ``context``
    is what the episode's context says of it. ``Elsewhere`` when the open room is another
    process's; ProtocolError when no seat could be had."""
    lobby = lobby_key(config.slug)
    given = room is not None
    for _ in range(ATTEMPTS):
        if room is None:
            address = await _open_room(game, config, user, lobby)
            if address is None:
                continue  # another process opened one meanwhile: join that
            if not hubs.hub().local(address):
                raise Elsewhere(address)
            room = _rooms.get(address.room)
        else:
            address = room.address
        if room is not None:
            answer = await room.seat_program(
                key=key, holder=holder, seat=seat, viewer_for=viewer_for, context=context
            )
            if isinstance(answer, Joined):
                _programs_changed(room)
                await _withdraw_if_closed(room)
                return room
        if given:
            break  # that room, and no other: its asker looks again
        if address is not None:
            await _eval(_WITHDRAW, lobby, address.dumps())  # full or gone: look again
        room = None
    raise p.ProtocolError("busy", "Could not find a seat just now; reset to try again.")


async def leave_program(room: Room, key: str) -> None:
    """A program's session lets its seat go (``Room.leave_program``)."""
    await room.leave_program(key)
    _programs_changed(room)
    await _advertise_if_open(room)


def _programs_changed(room: Room) -> None:
    """The room's episode, when it starts, says which programs play in it."""
    store = room.match.store
    if isinstance(store, DjangoSink) and room.state in ("waiting", "starting"):
        store.context = room.program_context()


async def rejoin(
    *,
    episode_id: str,
    user: Any,
    transport: Transport,
    channel: str,
    subscribe: Callable[[], Awaitable[None]],
) -> Any:
    """A player whose socket dropped mid-game takes their seat back (any process)."""
    address = await hubs.room_of_episode(episode_id)
    if address is None:
        raise p.ProtocolError("resume_failed", "That game has ended; press Play.")
    if hubs.hub().local(address):
        room = _rooms[address.room]
        answer = await room.join(user_id=user.pk, name=user.public_name, transport=transport)
        if isinstance(answer, Joined):
            return LocalLink(room, answer, user.pk)
        raise p.ProtocolError("resume_failed", answer.text)
    await subscribe()
    reply = await hubs.request(
        address,
        {"type": "room.join", "user": user.pk, "name": user.public_name, "consumer": channel},
    )
    if reply["type"] != "room.joined":
        raise p.ProtocolError("resume_failed", reply.get("text", "That game has ended."))
    return RemoteLink(address, reply["seat"], SeatConfig(**reply["config"]), user.pk)


async def _open_room(game: Game, config: GameConfig, user: Any, key: str) -> hubs.Address | None:
    """The address of the waiting room's open room, hosting one here when there is none; None
    when another process opened one meanwhile (look again)."""
    address = hubs.Address.loads(await _get(key))
    if address is not None:
        return address
    room = await _host(game, config, user, key)
    return room.address if room is not None else None


async def _host(game: Game, config: GameConfig, user: Any, key: str) -> Room | None:
    conf = settings.ARCADE
    match = Match(
        game=config,
        store=DjangoSink(user=user, game=game),
        pool=engine.pool(),
        settings=engine.live_settings(),
        seats=[human_seat(config, index) for index in range(len(config.seats) or 1)],
    )

    async def policies(index: int) -> PolicySeat:
        return await _policy_seat(game, config, index)

    room = Room(
        game=config,
        match=match,
        policies=policies,
        timers=RoomTimers(
            lobby=float(conf["LOBBY_TIMEOUT_SECONDS"]),
            countdown=float(config.start_countdown),
            grace=float(conf["RECONNECT_GRACE_SECONDS"]),
        ),
        on_close=_closed,
    )
    room.lobby_key = key
    engine.hosting_room(match)
    room.address = await hubs.hub().address(room.id, functools.partial(_serve, room))
    if not await _set_if_absent(key, room.address.dumps()):
        hubs.hub().close(room.id)
        return None
    _rooms[room.id] = room
    _watched[room.id] = room
    room.open()
    return room


async def _policy_seat(game: Game, config: GameConfig, index: int) -> PolicySeat:
    """The seat's configured policy, else the game's built-in random one."""
    seat = config.seats[index] if index < len(config.seats) else SeatConfig(index=index)

    def load() -> tuple[Policy, Any]:
        policy = None
        if seat.policy_id is not None:
            policy = Policy.objects.filter(pk=seat.policy_id, enabled=True).first()
        if policy is None and is_board(game.env_id):
            # A board game's random player would be a random *legal* move: the board player
            # is as cheap, and a better opponent.
            policy, _ = Policy.objects.get_or_create(
                game=game, name="Board player", defaults={"kind": Policy.Kind.BOARD}
            )
        if policy is None:
            policy, _ = Policy.objects.get_or_create(
                game=game, name="Random", defaults={"kind": Policy.Kind.RANDOM, "every_k": 4}
            )
        return policy, policy_build(policy, seat=index)

    policy, engine_policy = await sync_to_async(load, thread_sensitive=False)()
    holder = Holder("policy", policy_id=policy.pk, name=policy.name)
    return PolicySeat(engine_policy, decisions(), holder=holder)


def _closed(room: Room) -> None:
    _rooms.pop(room.id, None)
    _watched.pop(room.id, None)
    hubs.hub().close(room.id)
    _background(_forget(room))


async def _forget(room: Room) -> None:
    try:
        if room.address is not None:
            await _eval(_WITHDRAW, room.lobby_key, room.address.dumps())
        if room.episode_id is not None:
            await hubs.unpublish(room.episode_id)
    except Exception:  # the keys expire anyway
        log.warning("could not withdraw room %s", room.id, exc_info=True)


async def _withdraw_if_closed(room: Room) -> None:
    if not room.open_for_people and room.address is not None:
        await _eval(_WITHDRAW, room.lobby_key, room.address.dumps())


async def _advertise_if_open(room: Room) -> None:
    if room.open_for_people and room.address is not None:
        await _set_if_absent(room.lobby_key, room.address.dumps())


def admit_join(user_id: int) -> bool:
    """Joining waiting rooms counts against the player's starts (a flood is refused)."""
    return engine.start_limiter().admit(user_id)


# --- spectators --------------------------------------------------------------------------


class Solo:
    """A one-player match as spectators watch it: its id at this process's hub."""

    def __init__(self, match: Match) -> None:
        self.id = uuid.uuid4().hex
        self.match = match
        self.spectators = Spectators(match)

    async def watch(self, transport: Transport) -> Viewer:
        return await self.spectators.watch(transport, window=self.match.settings.window)

    def unwatch(self, viewer: Viewer) -> None:
        self.spectators.unwatch(viewer)

    def close(self) -> None:
        self.spectators.close()


_solos: dict[str, Solo] = {}  # by episode


def solo_hosted(match: Match, episode_id: str, *, here: bool) -> None:
    """A one-player match's episode is (or is no longer) hosted here: spectators may find it
    (or its spectators' views end with it)."""
    if here:
        solo = Solo(match)
        _solos[episode_id] = solo
        _watched[solo.id] = solo
        _background(_publish_solo(solo, episode_id))
        return
    ended = _solos.pop(episode_id, None)
    if ended is not None:
        _watched.pop(ended.id, None)
        hubs.hub().close(ended.id)
        ended.close()
        _background(hubs.unpublish(episode_id))


async def _publish_solo(solo: Solo, episode_id: str) -> None:
    address = await hubs.hub().address(solo.id, functools.partial(_serve_watch, solo))
    if _solos.get(episode_id) is solo:  # not ended meanwhile
        await hubs.publish(address, episode=episode_id)


def _background(coroutine: Any) -> None:
    task = asyncio.ensure_future(coroutine)
    _forgetting.add(task)
    task.add_done_callback(_forgetting.discard)


async def may_watch(user: Any, episode_id: str) -> bool:
    """Staff watch any live game; a player watches the games they hold a seat in."""
    if user.is_staff:
        return True
    from recording.models import EpisodeSeat

    return await EpisodeSeat.objects.filter(episode_id=episode_id, user=user).aexists()


async def watch(
    address: hubs.Address,
    *,
    transport: Transport,
    channel: str,
    subscribe: Callable[[], Awaitable[None]],
) -> bool:
    if hubs.hub().local(address):
        watched = _watched.get(address.room)
        if watched is None:
            return False
        _watchers[(watched.id, channel)] = await watched.watch(transport)
        return True
    await subscribe()
    answer = await hubs.request(address, {"type": "room.watch", "consumer": channel})
    return answer["type"] == "room.watching"


async def unwatch(address: hubs.Address, *, transport: Transport, channel: str) -> None:
    if hubs.hub().local(address):
        watched = _watched.get(address.room)
        viewer = _watchers.pop((address.room, channel), None)
        if watched is not None and viewer is not None:
            watched.unwatch(viewer)
        return
    await hubs.tell(address, {"type": "room.unwatch", "consumer": channel})


async def spectator_flow(
    address: hubs.Address | None, *, channel: str, transport: Transport, message: Any
) -> None:
    """A spectator's ack or keyframe request: its own viewer's flow control, nobody else's."""
    if address is None:
        return
    if hubs.hub().local(address):
        _flow(_watchers.get((address.room, channel)), message)
        return
    await hubs.tell(address, {"type": "room.flow", "consumer": channel, "msg": message})


def _flow(viewer: Viewer | None, message: Any) -> None:
    if viewer is None:
        return
    if message["type"] == "ack":
        viewer.on_ack(int(message["frame"]))
    else:
        viewer.on_keyframe_request()


# --- requests from other processes ------------------------------------------------------


async def _serve(room: Room, message: dict[str, Any]) -> None:
    kind = message["type"]
    user = int(message.get("user") or 0)
    if kind == "room.join":
        transport = hubs.RelayTransport(message["consumer"], inbox=message["sender"])
        transport.on_gone = functools.partial(_gone, room, user, transport)
        answer = await room.join(user_id=user, name=str(message["name"]), transport=transport)
        if isinstance(answer, Joined):
            await _withdraw_if_closed(room)
            reply = {"type": "room.joined", "seat": answer.seat, "config": asdict(answer.config)}
        else:
            transport.close()
            reply = {"type": "room.refused", "code": answer.code, "text": answer.text}
        await hubs.reply(message["reply"], reply)
    elif kind == "room.leave":
        await room.leave(user_id=user)
        await _advertise_if_open(room)
    elif kind == "room.input":
        try:
            seat = room.seat_for_input(user, message["msg"])
            room.match.on_input(message["msg"], seat=seat)
        except p.ProtocolError as exc:
            await _tell_user(room, user, exc)
    elif kind == "room.ack":
        mine = room.seat_of(user)
        if mine is not None:
            room.match.on_ack(int(message["frame"]), seat=mine)
    elif kind == "room.keyframe":
        mine = room.seat_of(user)
        if mine is not None:
            room.match.on_keyframe_request(seat=mine)
    elif kind in ("room.watch", "room.flow", "room.unwatch"):
        await _serve_watch(room, message)
    elif kind.startswith("program.") and _program_hosts:
        _background(_program_hosts[0](room, message))


def _gone(room: Room, user_id: int, relay: hubs.RelayTransport) -> None:
    """A remote player's socket stopped taking frames: as if they left (unless they have
    come back meanwhile on another socket, or left already)."""
    seat = room.seat_of(user_id)
    if seat is not None and room.people[seat].viewer.transport is relay:
        _background(room.leave(user_id=user_id))


def _stop_watching(watched: Room | Solo, key: tuple[str, str]) -> None:
    """A remote spectator stops watching: it said so, or its socket or process went."""
    watcher = _watchers.pop(key, None)
    if watcher is not None:
        watched.unwatch(watcher)
        hubs.release(watcher.transport)


async def _serve_watch(watched: Room | Solo, message: dict[str, Any]) -> None:
    """A spectator's requests from another process."""
    kind = message["type"]
    key = (watched.id, message["consumer"])
    if kind == "room.watch":
        relay = hubs.RelayTransport(message["consumer"], inbox=message["sender"])
        relay.on_gone = functools.partial(_stop_watching, watched, key)
        _watchers[key] = await watched.watch(relay)
        await hubs.reply(message["reply"], {"type": "room.watching"})
    elif kind == "room.flow":
        _flow(_watchers.get(key), message["msg"])
    elif kind == "room.unwatch":
        _stop_watching(watched, key)


_watchers: dict[tuple[str, str], Viewer] = {}


async def _tell_user(room: Room, user_id: int, exc: p.ProtocolError) -> None:
    seat = room.seat_of(user_id)
    if seat is not None:
        await room.people[seat].viewer.transport.send_json(
            p.ErrorMessage(type="error", code=exc.code, message=exc.message)
        )


# --- Redis ------------------------------------------------------------------------------


async def _get(key: str) -> Any:
    return await asyncio.to_thread(lambda: hubs.redis().get(key))


async def _set_if_absent(key: str, value: str) -> bool:
    return bool(
        await asyncio.to_thread(lambda: hubs.redis().set(key, value, nx=True, ex=LOBBY_TTL))
    )


async def _eval(script: str, key: str, value: str) -> Any:
    return await asyncio.to_thread(lambda: hubs.redis().eval(script, 1, key, value))
