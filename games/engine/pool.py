"""Per-process pools of idle machines, and the helper process that seeds ALE episodes."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections import defaultdict
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .machines import GameConfig, Machine, atari_start_state, build_machine
from .registry import is_atari, register_all

log = logging.getLogger(__name__)


class MachinePool:
    """Idle machines by game, reused across episodes.

    Building an ALE machine blocks the process for ~85 ms, so machines are built ahead
    (``prewarm``) and kept; only a new peak of concurrent players of one game builds more.
    """

    def __init__(self, *, max_idle_per_game: int = 64, use_helper: bool = True) -> None:
        self._idle: dict[str, list[Machine]] = defaultdict(list)
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_game
        self._use_helper = use_helper
        self._helper: Executor | None = None
        self.built = 0

    def _take(self, config: GameConfig) -> Machine | None:
        with self._lock:
            idle = self._idle.get(config.pool_key)
            return idle.pop() if idle else None

    def _build(self, config: GameConfig) -> Machine:
        self.built += 1
        return build_machine(config)

    def helper(self) -> Executor:
        if self._helper is None:
            self._helper = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=register_all,
            )
        return self._helper

    async def _start_state(self, config: GameConfig, seed: int) -> bytes | None:
        if not self._use_helper:
            return None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.helper(), atari_start_state, config.env_id, config.env_kwargs, seed
            )
        except BrokenProcessPool:
            log.warning("seeding helper process died; starting a new one")
            self._helper = None
            return await loop.run_in_executor(
                self.helper(), atari_start_state, config.env_id, config.env_kwargs, seed
            )

    async def acquire(self, config: GameConfig, seed: int) -> tuple[Machine, list[int]]:
        """A machine at the start of an episode seeded with ``seed``, and its first colours."""
        if is_atari(config.env_id):
            state_future = asyncio.ensure_future(self._start_state(config, seed))
            machine = self._take(config)
            if machine is None:
                machine = self._build(config)
            try:
                state = await state_future
                return machine, machine.start(seed, state)
            except BaseException:
                self.release(config, machine)
                raise
        taken = self._take(config)
        built = taken if taken is not None else await asyncio.to_thread(self._build, config)
        try:
            return built, await asyncio.to_thread(built.start, seed, None)
        except BaseException:
            built.close()
            raise

    def release(self, config: GameConfig, machine: Machine) -> None:
        with self._lock:
            idle = self._idle[config.pool_key]
            if len(idle) < self._max_idle:
                idle.append(machine)
                return
        machine.close()

    def prewarm(self, configs: list[GameConfig], per_game: int) -> None:
        """Build idle machines ahead of players (blocking; call before serving)."""
        for config in configs:
            for _ in range(per_game):
                try:
                    self.release(config, self._build(config))
                except Exception:
                    log.exception("could not prewarm %s", config.slug)
                    break
        if self._use_helper and configs:
            self.helper().submit(register_all)  # start the helper process now, not on first play

    def idle_count(self, config: GameConfig) -> int:
        return len(self._idle.get(config.pool_key, ()))

    def shutdown(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=False, cancel_futures=True)
            self._helper = None
