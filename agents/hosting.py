"""This process's agent sessions, and the limits they keep.

- **Its own budget** (``ARCADE["AGENT_SESSIONS"]``): agents never take a person's place on a
  web process (people's games are capped apart, ``play.engine.Seats``); past it, ``server_busy``.
- **A token's sessions at once** (``ApiToken.max_sessions``), over every web process: a Redis
  sorted set per token whose members are the open sessions, scored by when they lapse; this
  process renews its own every ``KEEP_SECONDS``, so a crashed process's sessions lapse by
  themselves. Past it, ``too_many_sessions``.
- **A token's steps a second** on this process (``ApiToken.max_steps_per_second``): a token
  bucket holding one second of steps; past it the step is not taken, ``rate_limited``.
- **Idle sessions** (``ApiToken.idle_seconds`` without a message) are ended and told
  ``idle_timeout`` by the same keeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from play import hub
from play import protocol as p

log = logging.getLogger(__name__)

KEEP_SECONDS = 5.0
LAPSE_SECONDS = 30  # a session this process has not renewed for this long counts no more
TOKEN_KEY = "arcade:agents:token:{}"

# Count the token's live sessions and add this one, atomically: two processes opening its last
# free session at once cannot both pass.
_OPEN = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[3], ARGV[4])
redis.call('expire', KEYS[1], ARGV[5])
return 1
"""


@dataclass(slots=True)
class Rate:
    """A token bucket: ``per_second`` steps a second, at most one second's worth saved up."""

    per_second: float
    level: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.per_second

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.per_second, self.level + (now - self.at) * self.per_second)
        self.at = now
        if self.level < 1:
            return False
        self.level -= 1
        return True


@dataclass(eq=False, slots=True)
class Held:
    """An open session as the keeper sees it."""

    token_id: int
    idle_seconds: float
    expire: Callable[[], Awaitable[None]]  # ends it and tells its client, once idle
    member: str = field(default_factory=lambda: uuid.uuid4().hex)
    used: float = field(default_factory=time.monotonic)
    busy: int = 0  # requests under way: a session is never idle while it answers one

    def touch(self) -> None:
        self.used = time.monotonic()

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            self.used = time.monotonic()

    def idle(self, now: float) -> bool:
        return not self.busy and now - self.used >= self.idle_seconds


class Hosting:
    def __init__(self) -> None:
        self.held: set[Held] = set()
        self.opening = 0
        self._rates: dict[int, Rate] = {}
        self._keeper: asyncio.Task[None] | None = None

    async def open(self, token: Any, expire: Callable[[], Awaitable[None]]) -> Held:
        """Hold a new session for ``token``, or refuse it with the limit it is over."""
        if len(self.held) + self.opening >= settings.ARCADE["AGENT_SESSIONS"]:
            raise p.ProtocolError(
                "server_busy",
                "This server holds its most agent sessions now: retry in a moment, or close "
                "sessions you no longer step.",
            )
        self.opening += 1  # counted before the await below, so concurrent opens cannot overrun
        try:
            held = Held(token_id=token.pk, idle_seconds=token.idle_seconds, expire=expire)
            now = time.time()
            opened = await hub.async_redis().eval(
                _OPEN, 1, TOKEN_KEY.format(token.pk), now, token.max_sessions,
                now + LAPSE_SECONDS, held.member, LAPSE_SECONDS * 2,
            )  # fmt: skip
        finally:
            self.opening -= 1
        if not opened:
            raise p.ProtocolError(
                "too_many_sessions",
                f"This token holds its most sessions at once ({token.max_sessions}): close one "
                "first (its owner may raise the limit in the admin).",
            )
        self.held.add(held)
        self._keep()
        return held

    async def close(self, held: Held) -> None:
        if held in self.held:
            self.held.discard(held)
            with contextlib.suppress(Exception):  # it lapses by itself if Redis is away
                await hub.async_redis().zrem(TOKEN_KEY.format(held.token_id), held.member)

    def step(self, token: Any) -> None:
        """Count a step against its token's rate on this process, or refuse it."""
        rate = self._rates.get(token.pk)
        if rate is None or rate.per_second != token.max_steps_per_second:
            rate = self._rates[token.pk] = Rate(float(token.max_steps_per_second))
        if not rate.take():
            raise p.ProtocolError(
                "rate_limited",
                f"Over this token's {token.max_steps_per_second} steps a second: the step was "
                "not taken; send it again in a moment.",
            )

    def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        if self._keeper is None or self._keeper.done() or self._keeper.get_loop() is not loop:
            self._keeper = loop.create_task(self._run())

    async def _run(self) -> None:
        while self.held:
            await asyncio.sleep(KEEP_SECONDS)
            now = time.monotonic()
            for held in [h for h in self.held if h.idle(now)]:
                try:
                    await held.expire()
                except Exception:
                    log.exception("could not end an idle agent session")
                await self.close(held)
            try:
                await self._renew()
            except Exception:  # the next round renews them; they lapse only after 30 s
                log.exception("could not renew %d agent session(s)", len(self.held))

    async def _renew(self) -> None:
        if not self.held:
            return
        lapse = time.time() + LAPSE_SECONDS
        pipe = hub.async_redis().pipeline(transaction=False)
        for held in self.held:
            pipe.zadd(TOKEN_KEY.format(held.token_id), {held.member: lapse}, xx=True)
        await pipe.execute()


@functools.cache
def hosting() -> Hosting:
    return Hosting()
