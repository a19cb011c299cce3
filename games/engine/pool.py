"""Per-process pools of idle machines, and the helper process that seeds ALE episodes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import secrets
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .machines import GameConfig, Machine, atari_start_state, build_machine
from .registry import is_atari, register_all

log = logging.getLogger(__name__)

StartState = tuple[int, "concurrent.futures.Future[bytes]"]


class MachinePool:
    """Idle machines by game, reused across episodes, and seeded start states made ahead.

    Building an ALE machine takes ~70 ms, so machines are built ahead (``prewarm``) and kept;
    only a new peak of concurrent players of one game builds more. Seeding one costs as much
    again, in a helper process; a few seeded start states per game are kept in stock there,
    so New game restores one (~0.1 ms) instead of waiting.

    Nothing here builds, loads or resets an emulator on the event loop: that happens on one
    builder thread, one machine at a time. ale-py holds the GIL while it loads a ROM (two
    thirds of it in Stella's colour-averaging table, ``PhosphorBlend::makeAveragePalette``),
    so a build still stops the loop's thread for its length; one at a time, with a rest of
    ``build_rest`` seconds after each, a burst of cold starts costs other players a short
    hitch now and then instead of freezing them until the burst is built.
    """

    def __init__(
        self,
        *,
        max_idle_per_game: int = 256,
        use_helper: bool = True,
        stock: int = 3,
        build_rest: float = 0.05,
    ) -> None:
        self._idle: dict[str, list[Machine]] = defaultdict(list)
        self._stock: dict[str, deque[StartState]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_game
        self._use_helper = use_helper
        self._stock_size = stock
        self._helper: ProcessPoolExecutor | None = None
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arcade-build")
        self._build_rest = build_rest

    def _take(self, config: GameConfig) -> Machine | None:
        with self._lock:
            idle = self._idle.get(config.pool_key)
            return idle.pop() if idle else None

    def _build(self, config: GameConfig) -> Machine:
        return build_machine(config)

    def _build_and_rest(self, config: GameConfig) -> Machine:
        try:
            return self._build(config)
        finally:
            time.sleep(self._build_rest)  # the loop's thread has the GIL to itself meanwhile

    async def _off_loop(self, config: GameConfig) -> Machine:
        """An idle machine, or one built on the builder thread."""
        taken = self._take(config)
        if taken is not None:
            return taken
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._builder, self._build_and_rest, config)

    def helper(self) -> ProcessPoolExecutor:
        if self._helper is None:
            self._helper = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=register_all,
            )
        return self._helper

    def _order_start(self, config: GameConfig) -> StartState:
        seed = secrets.randbits(31)
        try:
            future = self.helper().submit(atari_start_state, config.env_id, config.env_kwargs, seed)
        except BrokenProcessPool:
            log.warning("seeding helper process died; starting a new one")
            self._helper = None
            future = self.helper().submit(atari_start_state, config.env_id, config.env_kwargs, seed)
        return seed, future

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

    async def acquire(self, config: GameConfig) -> tuple[Machine, int, list[int]]:
        """A machine at the start of a freshly seeded episode: machine, seed, first colours."""
        if is_atari(config.env_id) and self._use_helper:
            seed, future = self._next_start(config)
            machine = await self._off_loop(config)
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
        seed = secrets.randbits(31)
        built = await self._off_loop(config)
        try:
            return built, seed, await asyncio.to_thread(built.start, seed, None)
        except BaseException:
            built.close()
            raise

    async def acquire_idle(self, config: GameConfig) -> Machine:
        """A machine to restore a snapshot into: an idle one, or one built off the loop."""
        return await self._off_loop(config)

    def release(self, config: GameConfig, machine: Machine) -> None:
        with self._lock:
            idle = self._idle[config.pool_key]
            if len(idle) < self._max_idle:
                idle.append(machine)
                return
        machine.close()

    def prewarm(self, configs: list[GameConfig], per_game: int) -> None:
        """Build idle machines and seeded start states ahead of players (blocking)."""
        for config in configs:
            for _ in range(per_game):
                try:
                    self.release(config, self._build(config))
                except Exception:
                    log.exception("could not prewarm %s", config.slug)
                    break
            if self._use_helper and is_atari(config.env_id):
                with self._lock:
                    self._top_up(config)
                    ordered = [future for _, future in self._stock[config.pool_key]]
                # Ready means ready: the first players get a start state at once.
                concurrent.futures.wait(ordered, timeout=120)

    def shutdown(self) -> None:
        self._builder.shutdown(wait=False, cancel_futures=True)
        if self._helper is not None:
            self._helper.shutdown(wait=False, cancel_futures=True)
            self._helper = None
