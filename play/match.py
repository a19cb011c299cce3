"""A match: one machine, one clock, one recorder, its seats and its viewers, and the lifecycle
of its episodes (start, stop, park, hand over, adopt). The one place a live step is taken.

Plain asyncio and no Django, and no transport of its own: seats choose the joint action
(``play/seats.py``), viewers carry frames to sockets (``play/viewers.py``), the clock says when
to step (``play/clocks.py``) and the sink is the recording's front door (``play/sink.py``), so
a match can be played by people, policies and scripts, tested and benchmarked alone.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from games.engine import codec
from games.engine.keymap import KeyMap
from games.engine.machines import GameConfig, Machine, Outcome
from games.engine.multiplayer import MultiMachine
from games.engine.pool import MachinePool
from recording.chunkfile import ChunkData
from recording.chunkfile import encode as encode_chunk
from recording.recorder import Recorder, SeatsRecord, record_step

from . import protocol as p
from .clocks import Clock, DeadlineClock, TurnClock
from .protocol import EndReason
from .seats import VACANT, Holder, HumanSeat, PolicySeat, ScriptedSeat, Seat
from .viewers import Gone, Transport, Viewer

if TYPE_CHECKING:
    from .sink import Sink

log = logging.getLogger(__name__)

MAX_PAUSES = 1000  # pauses one episode records; a page toggling its tab for ever plays on

PauseWhy = Literal["hidden", "reconnect"]


@dataclass(frozen=True)
class LiveSettings:
    chunk_steps: int = 60
    chunk_seconds: float = 1.0
    window: int = 40
    ack_every: int = 12
    reconnect_grace: int = 20  # seconds; 0: a dropped socket ends its episode at once
    # Seconds a game waits for its player (not begun yet, or paused with the tab hidden)
    # before it ends as abandoned: an idle tab must not hold a seat for ever.
    wait_for_player: float = 600.0
    # Seconds an AI at a turn-based game waits before its move is played (a reply landing
    # the instant the person's move does is hard to follow).
    think_seconds: float = 0.4


class Episode:
    """What one running episode holds: its machine, its recorder and its lifecycle."""

    def __init__(
        self,
        *,
        episode_id: str,
        seed: int,
        machine: Machine | MultiMachine,
        recorder: Recorder,
        seats: int,
    ) -> None:
        self.id = episode_id
        self.seed = seed
        self.machine = machine
        self.recorder = recorder
        self.lives = [0] * seats  # per seat
        self.over = False
        self.failed = False  # its machine raised: it goes back to no pool
        # The game waits for the player: nothing is stepped until ``begin`` (docs/protocol.md).
        self.begun = False
        self.paused_at: float | None = None  # wall clock, s: when play stopped, while it is
        self.paused_why: PauseWhy = "hidden"
        self.pauses: list[dict[str, Any]] = []  # {"step", "seconds", "why"}: docs/recording.md
        # Per seat: its return, and its points won and the other side's (a two-sided score).
        self.returns = [0.0] * seats
        self.points = [[0.0, 0.0] for _ in range(seats)]
        self.chunk_started = time.monotonic()
        self.ship_queue: asyncio.Queue[ChunkData | None] = asyncio.Queue()


@dataclass(frozen=True, slots=True)
class Stepped:
    """What one step did, seat by seat (a one-seat game's lists have one entry)."""

    actions: tuple[int, ...]
    fresh: tuple[bool, ...]
    rewards: list[float]
    lives: list[int]
    terminated: bool
    truncated: bool  # the env's, or the game's step limit
    info: dict[str, Any]
    entries: list[list[int]]  # palette entries the frame showed first (recorded already)
    words: codec.Sparse | None  # the frame's changed words: the recording's and the wire's
    first: Outcome  # the first seat's outcome (the frame header's flags)


class Match:
    """Hosts the episodes of one match, one at a time, for its seats and viewers."""

    def __init__(
        self,
        *,
        game: GameConfig,
        store: Sink | None,
        pool: MachinePool | None,
        settings: LiveSettings,
        seats: Sequence[Seat] | None = None,
        clock: Clock[EndReason] | None = None,
    ) -> None:
        """``store`` and ``pool`` None: a match its caller steps (``advance``) and records
        itself, as ``play.scripted`` does; it cannot start or stop episodes."""
        self.game = game
        self._store = store
        self._pool = pool
        self.settings = settings
        self.seats: list[Seat] = list(seats) if seats is not None else [self.human_seat(0)]
        self.multi = len(self.seats) > 1
        if clock is None:
            clock = (
                TurnClock[EndReason](
                    settings.chunk_seconds,
                    machine_moves=self._machine_moves if self.multi else None,
                    think_seconds=settings.think_seconds,
                )
                if game.turn_based
                else DeadlineClock[EndReason](game.fps)
            )
        self.clock: Clock[EndReason] = clock
        self.viewers: list[Viewer] = []
        self.episode: Episode | None = None
        # Told when an episode ends, however it ends (a room closes with its match's episode).
        self.on_end: Callable[[EndReason], None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._shipper: asyncio.Task[None] | None = None
        self._waiting: asyncio.TimerHandle | None = None  # ends a game nobody comes back to
        self._give_up: asyncio.Task[None] | None = None

    @property
    def store(self) -> Sink:
        if self._store is None:
            raise RuntimeError("this match has no sink: its caller records its episodes")
        return self._store

    @property
    def pool(self) -> MachinePool:
        if self._pool is None:
            raise RuntimeError("this match has no pool: its caller brings the machine")
        return self._pool

    @classmethod
    def for_player(
        cls,
        *,
        game: GameConfig,
        transport: Transport,
        store: Sink,
        pool: MachinePool,
        settings: LiveSettings,
        holder: Holder = VACANT,
    ) -> Match:
        """A one-seat match: the player's keys at its seat, the player's screen its viewer."""
        match = cls(game=game, store=store, pool=pool, settings=settings)
        match.seats[0] = match.human_seat(0, holder=holder)
        match.viewers.append(Viewer(transport, window=settings.window, seat=0))
        return match

    def human_seat(self, index: int, *, holder: Holder = VACANT) -> HumanSeat:
        return human_seat(self.game, index, holder=holder)

    @property
    def seat(self) -> Seat:
        """The first seat (a one-player game's only one)."""
        return self.seats[0]

    @property
    def viewer(self) -> Viewer:
        """The first seat's screen (a one-player game's player)."""
        return self.screen(0) or self.viewers[0]

    @property
    def transport(self) -> Transport:
        return self.viewer.transport

    def screen(self, seat: int) -> Viewer | None:
        """The viewer of the person at seat ``seat``, if they have one."""
        for viewer in self.viewers:
            if viewer.seat == seat:
                return viewer
        return None

    # --- messages from the client ---------------------------------------------------------

    def hello(self, *, width: int, height: int, pixel_format: str, seat: int = 0) -> p.HelloMessage:
        chosen = self.seats[seat]
        keys = chosen.keymap.codes if isinstance(chosen, HumanSeat) else []
        return p.HelloMessage(
            type="hello",
            protocol=p.PROTOCOL_VERSION,
            game=p.GameInfo(
                slug=self.game.slug,
                title=self.game.title,
                fps=self.game.fps,
                turn_based=self.game.turn_based,
                width=width,
                height=height,
                pixel_format="indexed" if pixel_format == "indexed" else "rgb",
                palette=None,
                keys=keys,
                max_steps=self.game.max_steps,
                pauses_when_hidden=self.game.pauses_when_hidden,
                two_sided_score=self.game.two_sided_score,
            ),
            ack_every=self.settings.ack_every,
            window=self.settings.window,
            reconnect_grace=self.settings.reconnect_grace,
        )

    def on_input(self, msg: p.InputMessage, *, seat: int = 0) -> None:
        episode = self.episode
        if episode is None or episode.over:
            raise p.ProtocolError("not_started", "No game is running; send start first.")
        if msg.get("episode", episode.id) != episode.id:
            # A socket acts only in its own running episode (also: input left over from the last).
            raise p.ProtocolError(
                "wrong_episode", "That is not this socket's running episode; input ignored."
            )
        chosen = self.seats[seat]
        if not isinstance(chosen, HumanSeat):
            raise p.ProtocolError("not_your_seat", "An AI holds that seat now; input ignored.")
        took = chosen.on_input(msg)
        if took.changed:
            self.clock.hurry()
        if self.game.turn_based and chosen.action != self.game.default_action and took.pressed:
            refused = _refusal(episode.machine, seat, chosen.action)
            if refused is not None:
                # Not a move (not their turn, a full column): nothing is stepped or recorded,
                # and the key no longer counts.
                chosen.action = self.game.default_action
                raise p.ProtocolError("illegal_move", refused)
            chosen.latch()
            self.clock.move()

    def on_ack(self, frame: int, *, seat: int = 0) -> None:
        viewer = self.screen(seat)
        if viewer is not None:
            viewer.on_ack(frame)

    def on_keyframe_request(self, *, seat: int = 0) -> None:
        viewer = self.screen(seat)
        if viewer is not None:
            viewer.on_keyframe_request()

    def begin(self) -> None:
        """The players are ready (a key, Start, or back to a hidden tab): play from here on.

        The first begin takes the episode's first step; after a pause it records how long
        play stood still. Play starts afresh on the clock: the ticker has no missed ticks of
        this match to catch up.
        """
        episode = self.episode
        if episode is None or episode.over:
            raise p.ProtocolError("not_started", "No game is running; send start first.")
        if self.playing:
            return  # a repeated begin (two keys at once) changes nothing
        if episode.paused_at is not None:
            episode.pauses.append(
                {
                    "step": episode.recorder.steps,
                    "seconds": round(max(0.0, time.time() - episode.paused_at), 3),
                    "why": episode.paused_why,
                }
            )
            episode.paused_at = None
        episode.begun = True
        episode.chunk_started = time.monotonic()
        self._stop_waiting()
        self._loop_task = asyncio.create_task(self._run(episode))

    async def pause(self, why: PauseWhy = "hidden") -> None:
        """A player's tab is hidden (or, in a match of several seats, a player's socket
        dropped): stop stepping until ``begin``; what was played leaves for storage now."""
        if why == "hidden" and not self.game.pauses_when_hidden:
            raise p.ProtocolError(
                "no_pause", "This game does not pause: it goes on while the tab is hidden."
            )
        episode = self.episode
        if episode is None or episode.over or not self.playing:
            return  # not started, not begun or paused already: nothing is moving
        if len(episode.pauses) >= MAX_PAUSES:
            raise p.ProtocolError(
                "no_pause", f"This game has paused {MAX_PAUSES} times; it goes on now."
            )
        await self._stop_loop(episode)
        self._loop_task = None
        episode.paused_at = time.time()
        episode.paused_why = why
        self._maybe_cut(episode, now=True)
        if why == "hidden":
            self._wait_for_player(episode)

    def _wait_for_player(self, episode: Episode) -> None:
        """Give the player ``wait_for_player`` seconds to begin (or go on), then end the game."""
        self._stop_waiting()
        self._waiting = asyncio.get_running_loop().call_later(
            self.settings.wait_for_player, self._waited_in_vain, episode
        )

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def _waited_in_vain(self, episode: Episode) -> None:
        self._waiting = None
        if self.episode is episode and not self.playing:
            self._give_up = asyncio.create_task(self.stop("abandoned", notify=True))

    @property
    def playing(self) -> bool:
        """The loop is stepping the episode (begun, and not paused)."""
        return self._loop_task is not None and not self._loop_task.done()

    # --- seats and viewers -------------------------------------------------------------------

    async def replace_seat(self, index: int, seat: Seat) -> None:
        """Seat ``index`` changes hands (a person leaves and a policy takes over, or back):
        the new holder plays from the next step on, and the recording says so from that step."""
        episode = self.episode
        seat.reset(episode.seed if episode is not None else 0)
        self.seats[index] = seat
        if episode is not None and not episode.over:
            seat.see(episode.machine)  # the frame the next step follows
            await self.store.seat_taken(
                episode=episode.id,
                index=index,
                holder=seat.holder,
                from_step=episode.recorder.steps,
            )

    async def watch(self, viewer: Viewer) -> None:
        """Add a viewer (a spectator, or a player's screen): it gets the running episode from
        its current frame, as a keyframe."""
        self.viewers.append(viewer)
        await self.watch_again(viewer)

    async def watch_again(self, viewer: Viewer) -> None:
        """A viewer's socket is new (a player came back): the episode from its current frame."""
        episode = self.episode
        if episode is None:
            return
        number = episode.recorder.steps
        viewer.from_frame(number)
        message = self._episode_message(episode, resumed=True, seat=viewer.seat)
        message["paused"] = not self.playing
        await viewer.transport.send_json(message)
        if viewer.seat is None and self.multi:
            await viewer.transport.send_json(self._scores_message(episode))
        await self._send_frame_to(viewer, episode, number, Outcome(0.0, False, False, 0))

    def unwatch(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    def _machine_moves(self) -> bool:
        """A turn-based game's seat to move decides at once, without a key: an AI policy or a
        script. (A person's seat waits for their key; a program's for its ``step``.)"""
        episode = self.episode
        to_move = getattr(episode.machine, "to_move", None) if episode is not None else None
        return to_move is not None and isinstance(self.seats[to_move], PolicySeat | ScriptedSeat)

    def _players_here(self) -> bool:
        """Every person's seat has its screen attached: a step now is play someone saw."""
        if not self.multi:
            screen = self.screen(0)
            return screen.transport.attached if screen is not None else True
        for index, seat in enumerate(self.seats):
            if isinstance(seat, HumanSeat):
                viewer = self.screen(index)
                if viewer is None or not viewer.transport.attached:
                    return False
        return True

    @property
    def watched(self) -> bool:
        """A person plays it: a hitch of its loop would be seen (a program's is not; the pool
        builds its machine here rather than hosting it, ``MachinePool``)."""
        return any(isinstance(seat, HumanSeat) for seat in self.seats)

    @property
    def anyone_here(self) -> bool:
        """Some viewer's socket is still attached (the match is not being started for nobody)."""
        return any(viewer.transport.attached for viewer in self.viewers) or not any(
            isinstance(seat, HumanSeat) for seat in self.seats
        )

    async def _broadcast(self, message: p.ServerMessage | dict[str, Any]) -> None:
        for viewer in list(self.viewers):
            await viewer.transport.send_json(message)

    # --- starting and ending episodes --------------------------------------------------------

    async def start(self, *, seed: int | None = None) -> bool:
        """End any running episode as restarted (New game) and start a new one (from
        ``seed`` when given: an agent's reset; else a drawn one).

        The new episode shows its first frame and waits for ``begin``. False when every
        socket went while the machine was being made ready: then no episode was created (a
        start nobody saw leaves no record).
        """
        await self.stop("restarted", notify=True)
        machine, seed, colours = await self.pool.acquire(self.game, seed=seed, watched=self.watched)
        if not self.anyone_here:
            self.pool.release(self.game, machine)
            return False
        try:
            frame = machine.frame
            episode_id = await self.store.create(
                seed=seed,
                frame_shape=list(frame.shape),
                pixel_format=machine.pixel_format,
                holders=[seat.holder for seat in self.seats],
                roles=[seat.role for seat in self.game.seats],
            )
        except BaseException:
            self.pool.release(self.game, machine)
            raise
        recorder = Recorder(
            episode=episode_id,
            pixel_format=machine.pixel_format,
            chunk_steps=self.settings.chunk_steps,
        )
        episode = Episode(
            episode_id=episode_id,
            seed=seed,
            machine=machine,
            recorder=recorder,
            seats=len(self.seats),
        )
        self.episode = episode
        for seat in self.seats:
            seat.reset(seed)
            seat.see(machine)
        for viewer in self.viewers:
            viewer.from_frame(0)
        recorder.reset(frame)
        palette = machine.palette
        if palette is not None:
            recorder.add_colours(palette.entries(colours))
        for viewer in list(self.viewers):
            await viewer.transport.send_json(self._episode_message(episode, seat=viewer.seat))
        await self._send_frame(episode, Outcome(0.0, False, False, 0))
        self._shipper = asyncio.create_task(self._ship_chunks(episode))
        self._loop_task = None
        self._wait_for_player(episode)
        return True

    def _episode_message(
        self, episode: Episode, *, resumed: bool = False, seat: int | None = 0
    ) -> p.EpisodeMessage:
        frame = episode.machine.frame
        message = p.EpisodeMessage(
            type="episode",
            episode=episode.id,
            seed=episode.seed,
            width=int(frame.shape[1]),
            height=int(frame.shape[0]),
            pixel_format="indexed" if episode.machine.pixel_format == "indexed" else "rgb",
            palette=_palette_b64(episode.machine),
        )
        if self.multi:
            message["seat"] = seat
        if resumed:
            mine = seat or 0
            message["resumed"] = True
            message["steps"] = episode.recorder.steps
            message["score"] = episode.returns[mine]
            message["points"] = list(episode.points[mine])
        return message

    # --- pausing for a reconnect ----------------------------------------------------------

    async def park(self) -> bool:
        """The socket dropped mid-episode: pause the game, keeping it for the player's return.

        Every step played so far leaves for storage now. Returns False when no episode runs
        (there is nothing to keep).
        """
        episode = self.episode
        if episode is None or episode.over:
            return False
        if self.playing:
            episode.paused_at = time.time()
            episode.paused_why = "reconnect"
        await self._stop_loop(episode)
        self._loop_task = None
        self._stop_waiting()  # the grace period decides now
        self.seat.reset(episode.seed)  # the keys the player held went with the socket
        self._maybe_cut(episode, now=True)
        self.viewer.transport = Gone()
        return True

    async def hand_over(self) -> dict[str, Any]:
        """A parked episode moves to the process the player reconnected to.

        Returns what that process needs to go on bit-exactly (``adopt``); this process keeps
        nothing of it. Every chunk cut so far has been handed to the workers by then.
        """
        episode = self.episode
        if episode is None or episode.over:
            raise p.ProtocolError("resume_failed", "That game has ended; press New game.")
        if self.multi:
            raise p.ProtocolError("resume_failed", "A game of several players stays where it is.")
        machine = episode.machine
        snapshot = {
            "episode": episode.id,
            "seed": episode.seed,
            "slug": self.game.slug,
            "lives": episode.lives[0],
            "machine": machine.freeze(),
            "recorder": episode.recorder.state(),
            "begun": episode.begun,
            "paused_at": episode.paused_at,
            "paused_why": episode.paused_why,
            "pauses": episode.pauses,
            "points": episode.points[0],
        }
        self.episode = None
        episode.over = True
        episode.ship_queue.put_nowait(None)
        if self._shipper is not None:
            await self._shipper
            self._shipper = None
        self.pool.release(self.game, machine)
        self.store.hosted(episode.id, here=False)
        return snapshot

    async def adopt(self, snapshot: dict[str, Any]) -> None:
        """Take over an episode another process handed over; ``resume`` then goes on with it."""
        if snapshot["slug"] != self.game.slug:
            raise p.ProtocolError("resume_failed", "That game is not this page's game.")
        await self.stop("abandoned", notify=True)
        machine = await self.pool.acquire_idle(self.game)
        try:
            await asyncio.to_thread(machine.thaw, snapshot["machine"])
        except BaseException:
            self.pool.release(self.game, machine)
            raise
        frame = machine.frame
        recorder = Recorder.resumed(
            episode=snapshot["episode"],
            pixel_format=machine.pixel_format,
            chunk_steps=self.settings.chunk_steps,
            state=snapshot["recorder"],
            frame=frame,
        )
        episode = Episode(
            episode_id=snapshot["episode"],
            seed=snapshot["seed"],
            machine=machine,
            recorder=recorder,
            seats=1,
        )
        self.seat.reset(episode.seed)
        episode.lives = [snapshot["lives"]]
        episode.begun = snapshot.get("begun", True)
        episode.paused_at = snapshot.get("paused_at")
        episode.paused_why = snapshot.get("paused_why", "reconnect")
        episode.pauses = list(snapshot.get("pauses", []))
        episode.points = [list(snapshot.get("points", [0.0, 0.0]))]
        episode.returns = [recorder.total_return]
        self.episode = episode
        self.store.hosted(episode.id, here=True)
        self._shipper = asyncio.create_task(self._ship_chunks(episode))

    async def resume(self, transport: Transport) -> None:
        """The player is back: go on with the paused episode on their new socket."""
        episode = self.episode
        if episode is None:
            raise p.ProtocolError("resume_failed", "That game has ended; press New game.")
        viewer = self.viewer
        viewer.transport = transport
        number = episode.recorder.steps
        self.seat.reset(episode.seed)
        viewer.from_frame(number)
        episode.chunk_started = time.monotonic()
        # A game that was being played when the socket dropped goes on at once; one waiting
        # for the player (not begun, or paused with its tab hidden) waits on.
        going_on = episode.begun and (
            episode.paused_at is None or episode.paused_why == "reconnect"
        )
        message = self._episode_message(episode, resumed=True)
        message["paused"] = not going_on
        await transport.send_json(message)
        await self._send_frame_to(viewer, episode, number, Outcome(0.0, False, False, 0))
        if going_on:  # after its keyframe: the frames that follow are deltas against it
            self.begin()
        else:
            self._wait_for_player(episode)

    async def stop(self, reason: EndReason, *, notify: bool = False) -> None:
        """End the running episode (if any) and wait until all its chunks are handed over."""
        episode = self.episode
        if episode is None:
            return
        self.episode = None
        self._stop_waiting()
        await self._stop_loop(episode)
        await self._finish(episode, reason)
        if notify:
            await self._send_end(episode, reason)
        self._ended(reason)

    async def _stop_loop(self, episode: Episode) -> None:
        task = self._loop_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("game loop of %s failed", episode.id)

    async def _finish(self, episode: Episode, reason: EndReason) -> None:
        episode.over = True
        # A pause still open now (New game while paused, a player who never came back) is
        # not recorded: no step follows it, and the episode's end says how it ended.
        recorder = episode.recorder
        unplayed = recorder.steps == 0 and reason in ("abandoned", "restarted")
        if not unplayed:
            episode.ship_queue.put_nowait(recorder.cut(final=True))
        episode.ship_queue.put_nowait(None)
        if self._shipper is not None:
            await self._shipper
            self._shipper = None
        if episode.failed:
            self.pool.discard(episode.machine)
        else:
            self.pool.release(self.game, episode.machine)
        if unplayed:
            # Left before the first step (a closed tab, a refused takeover): nothing was
            # played, so nothing is kept; a dataset of 0-step "episodes" helps nobody.
            await self.store.discard(episode=episode.id)
            return
        await self.store.close(
            episode=episode.id,
            reason=reason,
            steps=recorder.steps,
            chunks=recorder.chunks_cut,
            total=recorder.total_return,
            pauses=episode.pauses,
        )

    # --- the loop ------------------------------------------------------------------------

    async def _run(self, episode: Episode) -> None:
        try:
            reason = await self.clock.run(
                lambda: self._step(episode), lambda: self._maybe_cut(episode)
            )
        except Exception:
            # The machine failed (a hosted emulator's process died, an env raised): the game
            # cannot go on, but every step played is kept, and the players are told and may
            # start a new game.
            log.exception("game loop of %s failed; its episode ends as error", episode.id)
            episode.failed = True
            reason = "error"
        await self._end_from_loop(episode, reason)

    async def _end_from_loop(self, episode: Episode, reason: EndReason) -> None:
        if self.episode is episode:
            self.episode = None
            await self._finish(episode, reason)
            await self._send_end(episode, reason)
            self._ended(reason)

    def _ended(self, reason: EndReason) -> None:
        if self.on_end is not None:
            self.on_end(reason)

    async def _send_end(self, episode: Episode, reason: EndReason) -> None:
        for viewer in list(self.viewers):
            await viewer.transport.send_json(
                p.EpisodeEndMessage(
                    type="episode_end",
                    episode=episode.id,
                    reason=reason,
                    steps=episode.recorder.steps,
                    score=episode.returns[viewer.seat or 0],
                )
            )

    def advance(self, episode: Episode, *, t_step_of: Callable[[], float] = time.time) -> Stepped:
        """Take one step with the seats' joint action and record it: the one place a step is
        taken, whatever its clock (live, a script, a bench). Sends nothing."""
        machine = episode.machine
        recorder = episode.recorder
        if not self.multi:
            # One seat (every one-player game): the same step without the joint bookkeeping,
            # which would cost every live game a tenth of its loop time.
            seat = self.seats[0]
            action, was_fresh = seat.take()
            outcome = cast(Machine, machine).step(action)
            outcome.truncated = outcome.truncated or recorder.steps + 1 >= self.game.max_steps
            entries, words = record_step(
                recorder,
                machine,
                action=action,
                outcome=outcome,
                stamp=seat.stamp,
                t_step=t_step_of(),
                truncated=outcome.truncated,
            )
            seat.see(machine)
            reward = outcome.reward
            if reward:
                episode.returns[0] += reward
                episode.points[0][0 if reward > 0 else 1] += abs(reward)
            episode.lives[0] = outcome.lives
            return Stepped(
                (action,),
                (was_fresh,),
                [reward],
                episode.lives,
                outcome.terminated,
                outcome.truncated,
                outcome.info,
                entries,
                words,
                outcome,
            )
        chosen = [seat.take() for seat in self.seats]
        actions = tuple(action for action, _ in chosen)
        fresh = tuple(was_fresh for _, was_fresh in chosen)
        joint = cast(MultiMachine, machine).step(actions)
        rewards, lives = list(joint.rewards), list(joint.lives)
        truncated = joint.truncated or recorder.steps + 1 >= self.game.max_steps
        first = Outcome(rewards[0], joint.terminated, truncated, lives[0], joint.info)
        entries, words = record_step(
            recorder,
            machine,
            action=actions[0],
            outcome=first,
            stamp=self.seats[0].stamp,
            t_step=t_step_of(),
            truncated=truncated,
            seats=SeatsRecord(
                actions=actions,
                rewards=tuple(rewards),
                stamps=tuple(seat.stamp for seat in self.seats),
                holders=tuple(seat.holder.key for seat in self.seats),
                fresh=fresh,
            ),
        )
        for seat in self.seats:
            seat.see(machine)
        for index, reward in enumerate(rewards):
            episode.returns[index] += reward
        if any(reward > 0 for reward in rewards):
            # Each side's points are the rewards it won, as the screen counts them: a loss is
            # not the other side's point (two-player Pong takes one from a seat that holds its
            # serve past two seconds, and gives nobody one).
            won = [max(reward, 0.0) for reward in rewards]
            for index, points in enumerate(episode.points):
                points[0] += won[index]
                points[1] += sum(won) - won[index]
        episode.lives = lives
        return Stepped(
            actions,
            fresh,
            rewards,
            lives,
            joint.terminated,
            truncated,
            joint.info,
            entries,
            words,
            first,
        )

    async def _step(self, episode: Episode) -> EndReason | None:
        """One live step: act, record, send. Returns why the episode ended, if it did."""
        if not self._players_here():
            # A player's socket is gone and the game not yet paused (its consumer is tearing
            # down): a step now would be recorded as play that nobody saw.
            return None
        stepped = self.advance(episode)
        recorder = episode.recorder
        if stepped.entries:
            await self._broadcast({"type": "palette", "entries": stepped.entries})
        if any(stepped.rewards):
            await self._send_scores(episode, stepped.rewards)
        if self.game.turn_based:
            # Turn-based games say what the move did (Tower of Hanoi: moves, illegal drops):
            # one small message a key press.
            await self._broadcast(
                p.TurnMessage(type="turn", frame=recorder.steps, info=_plain_info(stepped.info))
            )
        if await self._send_frame(episode, stepped.first, words=stepped.words):
            recorder.sent(time.time())
        if stepped.terminated:
            return "terminated"
        if stepped.truncated:
            return "truncated"
        self._maybe_cut(episode)
        return None

    async def _send_scores(self, episode: Episode, rewards: list[float]) -> None:
        """A step scored: each player's points of a two-sided score, and every seat's score to
        the spectators of a game of several seats (one seat's would tell half the story)."""
        scores: p.ScoresMessage | None = None
        for viewer in list(self.viewers):
            if viewer.seat is None and self.multi:
                scores = scores or self._scores_message(episode)
                await viewer.transport.send_json(scores)
                continue
            mine = viewer.seat or 0
            if self.game.two_sided_score and (rewards[mine] or self.multi):
                await viewer.transport.send_json(
                    p.PointsMessage(type="points", points=list(episode.points[mine]))
                )

    def _scores_message(self, episode: Episode) -> p.ScoresMessage:
        return p.ScoresMessage(
            type="scores",
            returns=list(episode.returns),
            points=[won for won, _ in episode.points],
        )

    def _maybe_cut(self, episode: Episode, *, now: bool = False) -> None:
        """Cut a chunk when it is full or a second old (``now``: whatever is pending)."""
        recorder = episode.recorder
        clock = time.monotonic()
        if recorder.pending_steps and (
            now
            or recorder.pending_steps >= self.settings.chunk_steps
            or clock - episode.chunk_started >= self.settings.chunk_seconds
        ):
            episode.chunk_started = clock
            episode.ship_queue.put_nowait(recorder.cut())

    async def _send_frame(
        self, episode: Episode, outcome: Outcome, *, words: codec.Sparse | None = None
    ) -> bool:
        """Send the newest frame to every viewer; True when the first seat's screen got it
        (the recording's ``t_sent``), False when its flow control dropped it."""
        number = episode.recorder.steps
        machine = episode.machine
        sent = False
        for viewer in list(self.viewers):  # the players' screens first, then spectators
            seat = viewer.seat
            mine = seat or 0
            went = await viewer.send_frame(
                number=number,
                frame=machine.frame,
                pixel_format=machine.pixel_format,
                outcome=outcome,
                score=episode.returns[mine],
                lives=episode.lives[mine],
                input_seq=self.seats[seat].stamp.seq if seat is not None else 0,
                words=words,
            )
            if seat == 0:
                sent = went
        return sent

    async def _send_frame_to(
        self,
        viewer: Viewer,
        episode: Episode,
        number: int,
        outcome: Outcome,
        *,
        words: codec.Sparse | None = None,
    ) -> bool:
        mine = viewer.seat or 0
        seat = self.seats[mine] if viewer.seat is not None else None
        return await viewer.send_frame(
            number=number,
            frame=episode.machine.frame,
            pixel_format=episode.machine.pixel_format,
            outcome=outcome,
            score=episode.returns[mine],
            lives=episode.lives[mine],
            input_seq=seat.stamp.seq if seat is not None else 0,
            words=words,
        )

    # --- recording ---------------------------------------------------------------------------

    async def _ship_chunks(self, episode: Episode) -> None:
        """Encode and hand over chunks in order.

        On the event loop: a chunk holds only changed words and encodes in about 0.3 ms,
        less than a hop to a thread and back costs the loop.
        """
        while True:
            chunk = await episode.ship_queue.get()
            if chunk is None:
                return
            blob = encode_chunk(chunk)
            await self.store.ship(episode=episode.id, index=chunk.header["index"], blob=blob)


def human_seat(game: GameConfig, index: int, *, holder: Holder = VACANT) -> HumanSeat:
    """Seat ``index`` played by a person, with that seat's key map (else the game's)."""
    key_map = game.key_map
    if index < len(game.seats) and game.seats[index].key_map:
        key_map = game.seats[index].key_map
    keymap = KeyMap(key_map, default_action=game.default_action, n_actions=game.n_actions)
    return HumanSeat(keymap, default_action=game.default_action, holder=holder)


def _refusal(machine: Machine | MultiMachine, seat: int, action: int) -> str | None:
    """Why ``seat`` may not play ``action`` now, for a machine that knows (a board game's):
    its words for the player; None for a legal move, or any move of another machine."""
    refusal = getattr(machine, "refusal", None)
    return refusal(seat, action) if refusal is not None else None


def _plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """The step's info as the page may show it: its numbers, flags and short texts."""
    return {
        str(key): value
        for key, value in info.items()
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 64)
    }


def _palette_b64(machine: Machine | MultiMachine) -> str | None:
    if machine.palette is None:
        return None
    return base64.b64encode(machine.palette.rgb.astype(np.uint8).tobytes()).decode()
