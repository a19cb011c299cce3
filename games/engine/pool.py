"""Per-process pools of idle machines, and the helper process that seeds ALE episodes.

Multi-seat games (``multi/<name>``, ``MultiAtariMachine``) are pooled alongside, by the same
``GameConfig.pool_key``, and seeded the same way: the helper runs ``multi_start_state(name,
seed)``, the state right after ``start(seed, None)``, and the machine restores it with
``start(seed, state)``, which also seeds each seat's sticky actions from ``seed`` exactly as
``start(seed, None)`` does. So a multi-seat episode is replayed from ``start(seed, None)`` with
the seed ``acquire`` returned, as a one-seat ALE episode is from ``reset(seed=seed)``.

Most games' starts do not depend on the seed at all (``atari_shared_start``): once the helper
has told so, one state starts every episode of the game, whatever its seed, and nothing is
seeded ahead for it.
They are never hosted: multi-agent-ale-py calls its emulator through ctypes, which lets go of
the GIL, so a build on the builder thread does not stall the games being played.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import secrets
import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeAlias, TypeVar

from .hosted import HostedMachine, open_hosts, start_fork_server
from .machines import (
    AnyMachine,
    GameConfig,
    atari_shared_start,
    atari_start_state,
    build_machine,
)
from .registry import is_atari, is_board, is_multi_seat, multi_seat_name, register_all

log = logging.getLogger(__name__)
_T = TypeVar("_T")

StartState = tuple[int, "concurrent.futures.Future[bytes]"]
SharedStart: TypeAlias = "concurrent.futures.Future[bytes | None]"

# The seeds whose starts are compared to tell whether a game's start depends on its seed: a
# game that keeps Stella's power-on noise in its RAM differs at once, in 128 random bytes.
SEEDS_COMPARED = (0, 1, 2**31 - 1)


def seeded_in_helper(config: GameConfig) -> bool:
    """Whether a start of this game is worth seeding ahead in the helper: ALE games, one- or
    multi-seat, whose build and reset take ~85 ms; other envs (and board games) reset in no
    time."""
    return is_atari(config.env_id) or (is_multi_seat(config.env_id) and not is_board(config.env_id))


def start_state(config: GameConfig, seed: int) -> bytes:
    """Run in the helper process: the seeded start state ``start(seed, state)`` restores."""
    if is_multi_seat(config.env_id):
        # Imported here: a process that seeds only one-seat games never loads the library.
        from .multiplayer import multi_start_state

        return multi_start_state(multi_seat_name(config.env_id), seed)
    return atari_start_state(config.env_id, config.env_kwargs, seed)


def shared_start(config: GameConfig) -> bytes | None:
    """Run in the helper process: the start state every seed of this game shares, for
    ``start(seed, state)`` with any seed; None when its start depends on the seed."""
    if is_multi_seat(config.env_id):
        from .multiplayer import multi_shared_start

        return multi_shared_start(multi_seat_name(config.env_id), SEEDS_COMPARED)
    return atari_shared_start(config.env_id, config.env_kwargs, SEEDS_COMPARED)


def _failed(future: concurrent.futures.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


class MachinePool:
    """Idle machines by game, reused across episodes, and seeded start states made ahead.

    Building an ALE machine takes ~70 ms, so machines are built ahead (``prewarm``) and kept;
    only a new peak of concurrent players of one game builds more. Seeding one costs as much
    again, in a helper process; a few seeded start states per game are kept in stock there,
    so New game restores one (~0.1 ms) instead of waiting. A game whose start does not depend
    on its seed (most) needs no stock: one start state, told once, serves every seed.

    Nothing here builds, loads or resets an emulator on the event loop. ale-py holds the GIL
    while it loads a ROM (two thirds of it in Stella's colour-averaging table,
    ``PhosphorBlend::makeAveragePalette``), so a build on a thread of this process would still
    stop every game it plays for that long. So a machine is built here (on one builder thread)
    only while no game of this process is being played, when there is nobody to stall;
    otherwise an ALE game with no idle machine gets one hosted in a process of its own
    (``HostedMachine``, with ``host_cold_starts``), and other players see no hitch at all.
    A hosted machine costs a round trip a step and a process, so idle in-process machines are
    handed out first, only ``max_idle_hosted`` idle hosted ones per game are kept, and past
    ``max_hosted`` hosts a new machine is built here again (a hitch, not unbounded memory):
    ``ARCADE_PREWARM`` is what sizes a process for its players.

    Only people see a hitch: a machine acquired ``watched=False`` (a program's session, the
    agent API) neither stops a build here nor is hosted while no person's game is played. A
    program steps as fast as it is answered, for hours, and a hosted machine's round trip cost
    it as much CPU again as the emulator a step (~0.3 ms); a build's stall of its answers, once
    a machine (they are pooled after), is the smaller cost.
    """

    def __init__(
        self,
        *,
        max_idle_per_game: int = 256,
        use_helper: bool = True,
        stock: int = 3,
        build_rest: float = 0.05,
        host_cold_starts: bool = True,
        max_idle_hosted: int = 2,
        max_hosted: int = 16,
    ) -> None:
        self._idle: dict[str, list[AnyMachine]] = defaultdict(list)
        self._stock: dict[str, deque[StartState]] = defaultdict(deque)
        self._shared: dict[str, SharedStart] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_game
        self._use_helper = use_helper
        self._stock_size = stock
        self._helper: ProcessPoolExecutor | None = None
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arcade-build")
        # Hosts build on the other cores, as many at once as there are cores besides this
        # process's: a burst of a dozen builds at once would take the running games' CPU.
        self._hoster = ThreadPoolExecutor(
            max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="arcade-host"
        )
        self._build_rest = build_rest
        self._host_cold_starts = host_cold_starts
        self._max_idle_hosted = max_idle_hosted
        self._max_hosted = max_hosted
        # Machines handed out and not yet given back: the games this process is playing.
        self._in_play: weakref.WeakSet[AnyMachine] = weakref.WeakSet()
        # Those of them no person watches live (``acquire(watched=False)``): a subset.
        self._unwatched: weakref.WeakSet[AnyMachine] = weakref.WeakSet()

    @property
    def in_play(self) -> int:
        return len(self._in_play)

    def _watched_in_play(self) -> bool:
        """Some game a person watches is being played: a build here would stall it."""
        return len(self._in_play) > len(self._unwatched)

    def _take(self, config: GameConfig, watched: bool = True) -> AnyMachine | None:
        with self._lock:
            idle = self._idle.get(config.pool_key)
            if not idle:
                return None
            # An in-process machine steps without a round trip: those go first.
            for index in range(len(idle) - 1, -1, -1):
                if not isinstance(idle[index], HostedMachine):
                    return self._hand_out(idle.pop(index), watched)
            while idle:
                hosted = idle.pop()
                assert isinstance(hosted, HostedMachine)
                if hosted.alive:
                    return self._hand_out(hosted, watched)
                hosted.close()
            return None

    def _hand_out(self, machine: AnyMachine, watched: bool = True) -> AnyMachine:
        self._in_play.add(machine)
        if not watched:
            self._unwatched.add(machine)
        return machine

    def _given_back(self, machine: AnyMachine) -> None:
        """Under the lock: ``machine`` is no longer played."""
        self._in_play.discard(machine)
        self._unwatched.discard(machine)

    def _build(self, config: GameConfig) -> AnyMachine:
        return build_machine(config)

    def _build_if_quiet(self, config: GameConfig, watched: bool) -> AnyMachine | None:
        """On the builder thread: a machine built here, or None when it should be hosted.

        Decided here, one build at a time, so that a burst of starts on a quiet process builds
        its first machine here and hosts the rest (that first game is being played by then).
        Quiet means no game a person watches is played: programs' games do not count.
        A multi-seat game is always built here (see the module's docstring).
        """
        if self._host_cold_starts and is_atari(config.env_id):
            with self._lock:
                # Past max_hosted the memory of more hosts (37 MB each) outweighs a hitch.
                if self._watched_in_play() and open_hosts() < self._max_hosted:
                    return None
        try:
            return self._hand_out(self._build(config), watched)
        finally:
            time.sleep(self._build_rest)  # the loop's thread has the GIL to itself meanwhile

    def _host(self, config: GameConfig, watched: bool) -> AnyMachine:
        return self._hand_out(HostedMachine(config.env_id, config.env_kwargs), watched)

    async def _off_loop(self, config: GameConfig, watched: bool = True) -> AnyMachine:
        """An idle machine, or a new one: built on the builder thread, or hosted."""
        taken = self._take(config, watched)
        if taken is not None:
            return taken
        loop = asyncio.get_running_loop()
        built = await loop.run_in_executor(self._builder, self._build_if_quiet, config, watched)
        if built is not None:
            return built
        return await loop.run_in_executor(self._hoster, self._host, config, watched)

    def helper(self) -> ProcessPoolExecutor:
        if self._helper is None:
            self._helper = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=register_all,
            )
        return self._helper

    def _submit(self, work: Callable[..., _T], *args: object) -> concurrent.futures.Future[_T]:
        try:
            return self.helper().submit(work, *args)
        except BrokenProcessPool:
            log.warning("seeding helper process died; starting a new one")
            self._helper = None
            return self.helper().submit(work, *args)

    def _order_start(self, config: GameConfig) -> StartState:
        seed = secrets.randbits(31)  # below 2**31: ALE's seeds, one- and multi-seat, are int32
        return seed, self._submit(start_state, config, seed)

    def _shared_future(self, config: GameConfig) -> SharedStart:
        """Under the lock: the helper's answer to whether every seed of the game starts alike,
        asked once (again if the helper died meanwhile)."""
        future = self._shared.get(config.pool_key)
        if future is None or _failed(future):
            future = self._shared[config.pool_key] = self._submit(shared_start, config)
        return future

    def shared_start(self, config: GameConfig) -> bytes | None:
        """The start state every seed of the game shares, once the helper has told; None
        until then, and for a game whose start depends on its seed."""
        with self._lock:
            future = self._shared_future(config)
        return future.result() if future.done() and not _failed(future) else None

    def _top_up(self, config: GameConfig) -> None:
        stock = self._stock[config.pool_key]
        while len(stock) < self._stock_size:
            stock.append(self._order_start(config))

    def _next_start(self, config: GameConfig) -> StartState:
        with self._lock:
            stock = self._stock[config.pool_key]
            # Prefer a start state that is ready; otherwise the oldest one ordered.
            ready = next((item for item in stock if item[1].done()), None)
            item = ready or (stock[0] if stock else self._order_start(config))
            if item in stock:
                stock.remove(item)
            self._top_up(config)
            return item

    async def acquire(
        self, config: GameConfig, *, seed: int | None = None, watched: bool = True
    ) -> tuple[AnyMachine, int, list[int]]:
        """A machine at the start of a freshly seeded episode: machine, seed, first colours.

        The machine is a ``MultiMachine`` when ``config.multi_seat``; either way the episode
        is the one ``machine.start(seed, None)`` would begin. ``seed``: the episode's, chosen
        by the caller (an agent's reset) rather than drawn; it is started here, not taken
        from the helper's stock of states seeded ahead. ``watched``: a person sees the game
        live (False for a program's: see the class's docstring).
        """
        machine = await self._off_loop(config, watched)
        helped = self._use_helper and seeded_in_helper(config)
        shared = self.shared_start(config) if helped else None
        if (
            shared is None
            and seed is None
            and seeded_in_helper(config)
            and self._use_helper
            and not isinstance(machine, HostedMachine)
        ):
            seed, future = self._next_start(config)
            try:
                state = await asyncio.wrap_future(future)
                return machine, seed, await asyncio.to_thread(machine.start, seed, state)
            except BrokenProcessPool:
                log.warning("seeding helper process died; starting a new one")
                with self._lock:
                    self._helper = None
                    self._stock.clear()  # every state it had in stock died with it
                self.release(config, machine)
                raise
            except BaseException:
                self.release(config, machine)
                raise
        # Started from the state every seed shares; or seeded here: a game that needs no
        # helper, or a hosted machine, which resets in its own process (nothing here waits for
        # it, nor for the helper's queue).
        seed = secrets.randbits(31) if seed is None else seed
        try:
            return machine, seed, await asyncio.to_thread(machine.start, seed, shared)
        except BaseException:
            with self._lock:
                self._given_back(machine)
            machine.close()
            raise

    async def acquire_idle(self, config: GameConfig) -> AnyMachine:
        """A machine to restore a snapshot into: an idle one, or one built off the loop."""
        return await self._off_loop(config)

    def discard(self, machine: AnyMachine) -> None:
        """A machine that failed: closed, never handed out again."""
        with self._lock:
            self._given_back(machine)
        machine.close()

    def release(self, config: GameConfig, machine: AnyMachine) -> None:
        with self._lock:
            self._given_back(machine)
            idle = self._idle[config.pool_key]
            if isinstance(machine, HostedMachine):
                hosted = sum(isinstance(m, HostedMachine) for m in idle)
                keep = machine.alive and hosted < self._max_idle_hosted
            else:
                keep = len(idle) < self._max_idle
            if keep:
                idle.append(machine)
                return
        machine.close()

    def prewarm(self, configs: list[GameConfig], per_game: int) -> None:
        """Build idle machines and seeded start states ahead of players (blocking)."""
        if self._host_cold_starts and any(is_atari(c.env_id) for c in configs):
            start_fork_server()  # ~1 s of imports, paid here rather than by a first host
        for config in configs:
            for _ in range(per_game):
                try:
                    self.release(config, self._build(config))
                except Exception:
                    log.exception("could not prewarm %s", config.slug)
                    break
            if self._use_helper and seeded_in_helper(config):
                # Ready means ready: the first players get a start state at once.
                with self._lock:
                    shared = self._shared_future(config)
                concurrent.futures.wait([shared], timeout=120)
                if self.shared_start(config) is not None:
                    continue
                with self._lock:
                    self._top_up(config)
                    ordered = [future for _, future in self._stock[config.pool_key]]
                concurrent.futures.wait(ordered, timeout=120)

    def shutdown(self) -> None:
        self._builder.shutdown(wait=False, cancel_futures=True)
        self._hoster.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for idle in self._idle.values():
                for machine in [m for m in idle if isinstance(m, HostedMachine)]:
                    idle.remove(machine)
                    machine.close()
        if self._helper is not None:
            self._helper.shutdown(wait=False, cancel_futures=True)
            self._helper = None
