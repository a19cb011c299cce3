"""Games paused because their player's socket dropped, kept a while for the player's return.

A reconnecting page sends ``resume`` with its episode; within the grace period the same
episode goes on where it paused, and after it the episode ends as abandoned with every step
up to the drop recorded.

The new socket may land on another web process (they share one port). Each process that
holds a paused game listens on a channel of its own and joins the channel-layer group
``parked.<episode>``; a process that does not hold the episode asks that group, and the
holder hands the paused session over (``Match.hand_over``): the emulator's state, the
recording's position and the newest frame, from which the new process goes on bit-exactly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer

from .match import Match

log = logging.getLogger(__name__)

HANDOVER_TIMEOUT = 3.0  # seconds a process waits for another to hand a paused game over


@dataclass
class _Parked:
    user_id: int
    session: Match
    expiry: asyncio.TimerHandle


def _group(episode_id: str) -> str:
    return f"parked.{episode_id}"


class ParkedSessions:
    def __init__(self, *, grace: float) -> None:
        self.grace = grace
        self._parked: dict[str, _Parked] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channel: str | None = None
        self._listener: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._parked)

    def holds(self, episode_id: str) -> bool:
        return episode_id in self._parked

    async def keep(self, *, user_id: int, session: Match) -> None:
        """Hold a parked session until it is claimed or the grace period runs out."""
        assert session.episode is not None
        episode_id = session.episode.id
        expiry = asyncio.get_running_loop().call_later(self.grace, self._expire, episode_id)
        self._parked[episode_id] = _Parked(user_id=user_id, session=session, expiry=expiry)
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_add(_group(episode_id), await self._listening())

    async def claim(
        self, *, user_id: int, episode_id: str, slug: str
    ) -> Match | dict[str, Any] | None:
        """The player's paused session of that episode and game: held here (a session), handed
        over by another process (its snapshot), or None when nobody holds it for this player.
        """
        local = self._take(user_id=user_id, episode_id=episode_id, slug=slug)
        if local is not None:
            return local
        layer = get_channel_layer()
        if layer is None:
            return None
        # Default-prefixed, like the consumers' own channels: channels_redis reads all of a
        # process's channels of one prefix through one receiver, and a second prefix would
        # wait behind the first.
        reply = await layer.new_channel()
        await layer.group_send(
            _group(episode_id),
            {
                "type": "handover.request",
                "episode": episode_id,
                "user": user_id,
                "slug": slug,
                "reply": reply,
            },
        )
        try:
            message = await asyncio.wait_for(layer.receive(reply), HANDOVER_TIMEOUT)
        except TimeoutError:
            return None  # nobody holds it (it ended, or its process is gone)
        snapshot: dict[str, Any] | None = message.get("snapshot")
        return snapshot

    def _take(self, *, user_id: int, episode_id: str, slug: str) -> Match | None:
        # Another player's episode is never handed out: it stays parked for its own player.
        parked = self._parked.get(episode_id)
        if parked is None or parked.user_id != user_id or parked.session.game.slug != slug:
            return None
        del self._parked[episode_id]
        parked.expiry.cancel()
        self._background(self._leave(episode_id))
        return parked.session

    async def _leave(self, episode_id: str) -> None:
        layer = get_channel_layer()
        if layer is not None and self._channel is not None:
            await layer.group_discard(_group(episode_id), self._channel)

    async def _listening(self) -> str:
        """This process's own channel, served by a task that answers hand-over requests."""
        if self._listener is None or self._listener.done():
            layer = get_channel_layer()
            assert layer is not None
            self._channel = await layer.new_channel()
            self._listener = asyncio.get_running_loop().create_task(self._listen(self._channel))
        assert self._channel is not None
        return self._channel

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            message = await layer.receive(channel)
            if message.get("type") != "handover.request":
                continue
            session = self._take(
                user_id=message["user"], episode_id=message["episode"], slug=message["slug"]
            )
            snapshot = None
            if session is not None:
                try:
                    snapshot = await session.hand_over()
                except Exception:
                    log.exception("could not hand over episode %s", message["episode"])
                    await session.stop("abandoned")
            await layer.send(message["reply"], {"type": "handover.reply", "snapshot": snapshot})

    def _expire(self, episode_id: str) -> None:
        parked = self._parked.pop(episode_id, None)
        if parked is None:
            return
        log.info("episode %s was not resumed in %s s; ending it", episode_id, self.grace)
        self._background(parked.session.stop("abandoned"))
        self._background(self._leave(episode_id))

    def _background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def end_all(self) -> None:
        """End every parked episode now (the process is shutting down)."""
        for episode_id in list(self._parked):
            parked = self._parked.pop(episode_id)
            parked.expiry.cancel()
            await parked.session.stop("abandoned")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
