"""One player's live game: the deadline-clocked loop, flow control, and recording.

Plain asyncio and no Django: the consumer hands it a ``Transport`` (how to reach the browser)
and an ``EpisodeStore`` (how episodes are created, shipped and closed), so it can be tested and
benchmarked alone.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from games.engine import codec
from games.engine.clock import shared_ticker
from games.engine.keymap import KeyMap
from games.engine.machines import GameConfig, Machine, Outcome
from games.engine.pool import MachinePool
from recording.chunkfile import ChunkData
from recording.chunkfile import encode as encode_chunk
from recording.recorder import Recorder, record_step

from . import protocol as p
from .seats import HumanSeat
from .viewers import Gone, Transport, Viewer

log = logging.getLogger(__name__)

MAX_PAUSES = 1000  # pauses one episode records; a page toggling its tab for ever plays on

EndReason = Literal["terminated", "truncated", "abandoned", "restarted", "error"]
PauseWhy = Literal["hidden", "reconnect"]


class EpisodeStore(Protocol):
    async def create(self, *, seed: int, frame_shape: list[int], pixel_format: str) -> str: ...
    async def ship(self, *, episode: str, index: int, blob: bytes) -> None: ...
    async def close(
        self,
        *,
        episode: str,
        reason: EndReason,
        steps: int,
        chunks: int,
        total: float,
        pauses: list[dict[str, Any]],
    ) -> None: ...
    async def discard(self, *, episode: str) -> None:
        """The episode ended before its first step: it leaves no record."""

    def hosted(self, episode: str, *, here: bool) -> None:
        """This process starts (or stops) hosting an episode that goes on elsewhere."""


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


class Episode:
    """What one running episode holds: its machine, its recorder and its lifecycle."""

    def __init__(self, *, episode_id: str, seed: int, machine: Machine, recorder: Recorder) -> None:
        self.id = episode_id
        self.seed = seed
        self.machine = machine
        self.recorder = recorder
        self.lives = 0
        self.over = False
        self.failed = False  # its machine raised: it goes back to no pool
        # The game waits for the player: nothing is stepped until ``begin`` (docs/protocol.md).
        self.begun = False
        self.paused_at: float | None = None  # wall clock, s: when play stopped, while it is
        self.paused_why: PauseWhy = "hidden"
        self.pauses: list[dict[str, Any]] = []  # {"step", "seconds", "why"}: docs/recording.md
        self.points = [0.0, 0.0]  # rewards won and lost: both sides of a two-sided score
        self.chunk_started = time.monotonic()
        self.ship_queue: asyncio.Queue[ChunkData | None] = asyncio.Queue()


class LiveSession:
    """Hosts the episodes of one socket, one at a time."""

    def __init__(
        self,
        *,
        game: GameConfig,
        transport: Transport,
        store: EpisodeStore,
        pool: MachinePool,
        settings: LiveSettings,
    ) -> None:
        self.game = game
        # One seat, the socket's player; one viewer, the player's own screen.
        self.seat = HumanSeat(
            KeyMap(game.key_map, default_action=game.default_action, n_actions=game.n_actions),
            default_action=game.default_action,
        )
        self.viewer = Viewer(transport, window=settings.window)
        self.store = store
        self.pool = pool
        self.settings = settings
        self.episode: Episode | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._shipper: asyncio.Task[None] | None = None
        self._turn = asyncio.Event()
        self._hurry: Callable[[], None] | None = None
        self._waiting: asyncio.TimerHandle | None = None  # ends a game nobody comes back to
        self._give_up: asyncio.Task[None] | None = None

    @property
    def transport(self) -> Transport:
        return self.viewer.transport

    # --- messages from the client ---------------------------------------------------------

    def hello(self, *, width: int, height: int, pixel_format: str) -> p.HelloMessage:
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
                keys=self.seat.keymap.codes,
                max_steps=self.game.max_steps,
                pauses_when_hidden=self.game.pauses_when_hidden,
                two_sided_score=self.game.two_sided_score,
            ),
            ack_every=self.settings.ack_every,
            window=self.settings.window,
            reconnect_grace=self.settings.reconnect_grace,
        )

    def on_input(self, msg: p.InputMessage) -> None:
        episode = self.episode
        if episode is None or episode.over:
            raise p.ProtocolError("not_started", "No game is running; send start first.")
        if msg.get("episode", episode.id) != episode.id:
            # A socket acts only in its own running episode (also: input left over from the last).
            raise p.ProtocolError(
                "wrong_episode", "That is not this socket's running episode; input ignored."
            )
        took = self.seat.on_input(msg)
        if took.changed and self._hurry is not None:
            self._hurry()
        if self.game.turn_based and self.seat.action != self.game.default_action and took.pressed:
            self._turn.set()

    def on_ack(self, frame: int) -> None:
        self.viewer.on_ack(frame)

    def on_keyframe_request(self) -> None:
        self.viewer.on_keyframe_request()

    def begin(self) -> None:
        """The player is ready (a key, Start, or back to a hidden tab): play from here on.

        The first begin takes the episode's first step; after a pause it records how long
        play stood still. Play starts afresh on the clock: the ticker has no missed ticks of
        this session to catch up.
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
        self._turn.clear()  # the key that began is not a move
        self._loop_task = asyncio.create_task(self._run(episode))

    async def pause(self) -> None:
        """The player's tab is hidden: stop stepping until ``begin``; what was played leaves
        for storage now."""
        if not self.game.pauses_when_hidden:
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
        episode.paused_why = "hidden"
        self._maybe_cut(episode, now=True)
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

    # --- starting and ending episodes --------------------------------------------------------

    async def start(self) -> bool:
        """End any running episode as restarted (New game) and start a new one.

        The new episode shows its first frame and waits for ``begin``. False when the socket
        went while the machine was being made ready: then no episode was created (a start
        nobody saw leaves no record).
        """
        await self.stop("restarted", notify=True)
        machine, seed, colours = await self.pool.acquire(self.game)
        if not self.transport.attached:
            self.pool.release(self.game, machine)
            return False
        try:
            frame = machine.frame
            episode_id = await self.store.create(
                seed=seed, frame_shape=list(frame.shape), pixel_format=machine.pixel_format
            )
        except BaseException:
            self.pool.release(self.game, machine)
            raise
        recorder = Recorder(
            episode=episode_id,
            pixel_format=machine.pixel_format,
            chunk_steps=self.settings.chunk_steps,
        )
        episode = Episode(episode_id=episode_id, seed=seed, machine=machine, recorder=recorder)
        self.episode = episode
        self.seat.reset()
        self.viewer.from_frame(0)
        recorder.reset(frame)
        palette = machine.palette
        if palette is not None:
            recorder.add_colours(palette.entries(colours))
        await self.transport.send_json(self._episode_message(episode))
        await self._send_frame(episode, 0, Outcome(0.0, False, False, 0), score=0.0)
        self._shipper = asyncio.create_task(self._ship_chunks(episode))
        self._loop_task = None
        self._wait_for_player(episode)
        return True

    def _episode_message(self, episode: Episode, *, resumed: bool = False) -> p.EpisodeMessage:
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
        if resumed:
            message["resumed"] = True
            message["steps"] = episode.recorder.steps
            message["score"] = episode.recorder.total_return
            message["points"] = list(episode.points)
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
        self.seat.reset()  # the keys the player held went with the socket
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
        machine = episode.machine
        snapshot = {
            "episode": episode.id,
            "seed": episode.seed,
            "slug": self.game.slug,
            "lives": episode.lives,
            "machine": machine.freeze(),
            "recorder": episode.recorder.state(),
            "begun": episode.begun,
            "paused_at": episode.paused_at,
            "paused_why": episode.paused_why,
            "pauses": episode.pauses,
            "points": episode.points,
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
        )
        self.seat.reset()
        episode.lives = snapshot["lives"]
        episode.begun = snapshot.get("begun", True)
        episode.paused_at = snapshot.get("paused_at")
        episode.paused_why = snapshot.get("paused_why", "reconnect")
        episode.pauses = list(snapshot.get("pauses", []))
        episode.points = list(snapshot.get("points", [0.0, 0.0]))
        self.episode = episode
        self.store.hosted(episode.id, here=True)
        self._shipper = asyncio.create_task(self._ship_chunks(episode))

    async def resume(self, transport: Transport) -> None:
        """The player is back: go on with the paused episode on their new socket."""
        episode = self.episode
        if episode is None:
            raise p.ProtocolError("resume_failed", "That game has ended; press New game.")
        self.viewer.transport = transport
        number = episode.recorder.steps
        self.seat.reset()
        self.viewer.from_frame(number)
        episode.chunk_started = time.monotonic()
        # A game that was being played when the socket dropped goes on at once; one waiting
        # for the player (not begun, or paused with its tab hidden) waits on.
        going_on = episode.begun and (
            episode.paused_at is None or episode.paused_why == "reconnect"
        )
        message = self._episode_message(episode, resumed=True)
        message["paused"] = not going_on
        await transport.send_json(message)
        await self._send_frame(
            episode,
            number,
            Outcome(0.0, False, False, episode.lives),
            score=episode.recorder.total_return,
        )
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
            if self.game.turn_based:
                await self._run_turns(episode)
            else:
                await self._run_clock(episode)
        except Exception:
            # The machine failed (a hosted emulator's process died, an env raised): the game
            # cannot go on, but every step played is kept, and the player is told and may
            # start a new game.
            log.exception("game loop of %s failed; its episode ends as error", episode.id)
            episode.failed = True
            await self._end_from_loop(episode, "error")

    async def _run_clock(self, episode: Episode) -> None:
        over: asyncio.Future[EndReason] = asyncio.get_running_loop().create_future()

        async def tick() -> bool:
            try:
                reason = await self._step(episode)
            except Exception as exc:  # this session ends; the others on the ticker go on
                if not over.done():  # not paused meanwhile
                    over.set_exception(exc)
                return False
            if reason is not None:
                if not over.done():
                    over.set_result(reason)
                return False
            return True

        ticker = shared_ticker(self.game.fps)
        ticker.add(tick)
        self._hurry = functools.partial(ticker.hurry, tick)
        try:
            reason = await over
        finally:
            self._hurry = None
            ticker.discard(tick)
        await self._end_from_loop(episode, reason)

    async def _run_turns(self, episode: Episode) -> None:
        while True:
            try:
                await asyncio.wait_for(self._turn.wait(), self.settings.chunk_seconds)
            except TimeoutError:
                self._maybe_cut(episode)
                continue
            self._turn.clear()
            reason = await self._step(episode)
            if reason is not None:
                await self._end_from_loop(episode, reason)
                return

    async def _end_from_loop(self, episode: Episode, reason: EndReason) -> None:
        if self.episode is episode:
            self.episode = None
            await self._finish(episode, reason)
            await self._send_end(episode, reason)

    async def _send_end(self, episode: Episode, reason: EndReason) -> None:
        await self.transport.send_json(
            p.EpisodeEndMessage(
                type="episode_end",
                episode=episode.id,
                reason=reason,
                steps=episode.recorder.steps,
                score=episode.recorder.total_return,
            )
        )

    async def _step(self, episode: Episode) -> EndReason | None:
        """One step: act, record, send. Returns why the episode ended, if it did."""
        if not self.transport.attached:
            # The socket is gone and the game not yet paused (its consumer is tearing down):
            # a step now would be recorded as play that nobody saw.
            return None
        machine = episode.machine
        recorder = episode.recorder
        action = self.seat.action
        outcome = machine.step(action)
        truncated = outcome.truncated or recorder.steps + 1 >= self.game.max_steps
        entries, words = record_step(
            recorder,
            machine,
            action=action,
            outcome=outcome,
            stamp=self.seat.stamp,
            t_step=time.time(),
            truncated=truncated,
        )
        if entries:
            await self.transport.send_json({"type": "palette", "entries": entries})
        if outcome.reward:
            episode.points[0 if outcome.reward > 0 else 1] += abs(outcome.reward)
            if self.game.two_sided_score:
                await self.transport.send_json(
                    p.PointsMessage(type="points", points=list(episode.points))
                )
        if self.game.turn_based:
            # Turn-based games say what the move did (Tower of Hanoi: moves, illegal drops):
            # one small message a key press.
            await self.transport.send_json(
                p.TurnMessage(type="turn", frame=recorder.steps, info=_plain_info(outcome.info))
            )
        episode.lives = outcome.lives
        outcome.truncated = truncated
        if await self._send_frame(
            episode, recorder.steps, outcome, score=recorder.total_return, words=words
        ):
            recorder.sent(time.time())
        if outcome.terminated:
            return "terminated"
        if truncated:
            return "truncated"
        self._maybe_cut(episode)
        return None

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
        self,
        episode: Episode,
        number: int,
        outcome: Outcome,
        *,
        score: float,
        words: codec.Sparse | None = None,
    ) -> bool:
        """Send frame ``number`` to the player's screen; False when flow control dropped it."""
        return await self.viewer.send_frame(
            number=number,
            frame=episode.machine.frame,
            pixel_format=episode.machine.pixel_format,
            outcome=outcome,
            score=score,
            lives=episode.lives,
            input_seq=self.seat.stamp.seq,
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


def _plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """The step's info as the page may show it: its numbers, flags and short texts."""
    return {
        str(key): value
        for key, value in info.items()
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 64)
    }


def _palette_b64(machine: Machine) -> str | None:
    if machine.palette is None:
        return None
    return base64.b64encode(machine.palette.rgb.astype(np.uint8).tobytes()).decode()
