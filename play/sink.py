"""The recording's one front door for a match: episodes created, seats changing hands, chunks
shipped, heartbeats, closes and discards.

A match is handed a ``Sink``; ``DjangoSink`` is the live one (the database through the
recording's services, chunks batched to the workers by ``play/engine.py``'s shipper, the
episode kept beating while this process hosts it). Tests and benches hand their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from channels.db import database_sync_to_async

from accounts.models import User
from games.models import Game, Policy
from recording import services

from . import contexts, engine
from .protocol import EndReason
from .seats import Holder

if TYPE_CHECKING:
    from .match import Match


class Sink(Protocol):
    async def create(
        self,
        *,
        seed: int,
        frame_shape: list[int],
        pixel_format: str,
        holders: Sequence[Holder],
        roles: Sequence[str],
    ) -> str:
        """A new episode whose seats are held by ``holders`` from its first step; its id."""

    async def seat_taken(self, *, episode: str, index: int, holder: Holder, from_step: int) -> None:
        """Seat ``index`` changed hands: ``holder`` holds it from step ``from_step`` on."""

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


class DjangoSink:
    """A match's recording through the database and the workers."""

    def __init__(
        self,
        *,
        user: Any,
        game: Game,
        context: dict[str, Any] | None = None,
        env_spec: dict[str, Any] | None = None,
    ) -> None:
        self.user = user  # who opened the match: the episode's player when no seat names one
        self.game = game
        # What every episode of the match is for, beside what the apps above say (an API
        # agent's name and version).
        self.context = context or {}
        self.env_spec = env_spec  # the environment as played, when not the game's own
        # A one-player match, which spectators find through this process's hub while it
        # hosts an episode (a room publishes its own).
        self.solo: Match | None = None

    async def create(
        self,
        *,
        seed: int,
        frame_shape: list[int],
        pixel_format: str,
        holders: Sequence[Holder],
        roles: Sequence[str],
    ) -> str:
        episode = await database_sync_to_async(self._start)(
            seed=seed,
            frame_shape=frame_shape,
            pixel_format=pixel_format,
            holders=holders,
            roles=roles,
        )
        self.hosted(str(episode.pk), here=True)
        return str(episode.pk)

    def _start(
        self,
        *,
        seed: int,
        frame_shape: list[int],
        pixel_format: str,
        holders: Sequence[Holder],
        roles: Sequence[str],
    ) -> Any:
        if len(holders) == 1 and holders[0].kind == "human":
            seats = None  # one seat, the player: as every one-player episode
            people = [self.user]
        else:
            seats = [
                _seat_holder(index, holder, roles[index] if index < len(roles) else "")
                for index, holder in enumerate(holders)
            ]
            people = [seat.user for seat in seats if seat.user is not None]
        # The episode's player is its first person (a room's host may have left it).
        user = people[0] if people else self.user
        return services.episode_start(
            user=user,
            game=self.game,
            seed=seed,
            frame_shape=frame_shape,
            pixel_format=pixel_format,
            seats=seats,
            context={**contexts.for_episode(people, self.game), **self.context},
            env_spec=self.env_spec,
        )

    async def seat_taken(self, *, episode: str, index: int, holder: Holder, from_step: int) -> None:
        def record() -> None:
            seat = _seat_holder(index, holder, "")
            services.seat_taken(
                episode_id=episode,
                index=index,
                kind=seat.kind,
                user=seat.user,
                policy=seat.policy,
                from_step=from_step,
            )

        await database_sync_to_async(record)()

    async def discard(self, *, episode: str) -> None:
        try:
            await database_sync_to_async(services.episode_discard)(episode_id=episode)
        finally:
            self.hosted(episode, here=False)

    async def ship(self, *, episode: str, index: int, blob: bytes) -> None:
        await engine.shipper().ship(episode, index, blob)

    def hosted(self, episode: str, *, here: bool) -> None:
        # Beating keeps the watchdog off a live episode; the flusher reports it in /metrics.
        if here:
            engine.heartbeat().add(episode)
            engine.metrics_flusher().ensure_running()
        else:
            engine.heartbeat().discard(episode)
        if self.solo is not None:
            from . import lobby  # lobby builds rooms with this sink

            lobby.solo_hosted(self.solo, episode, here=here)

    async def close(
        self,
        *,
        episode: str,
        reason: EndReason,
        steps: int,
        chunks: int,
        total: float,
        pauses: list[dict[str, Any]],
    ) -> None:
        try:
            await database_sync_to_async(services.episode_end)(
                episode_id=episode, reason=reason, steps=steps, chunks=chunks, pauses=pauses
            )
        finally:
            self.hosted(episode, here=False)


def _seat_holder(index: int, holder: Holder, role: str) -> services.SeatHolder:
    """The recording's row for a seat's holder. A script holds seats only in tests and
    benches, which record it as nobody's."""
    if holder.kind == "human":
        user = User.objects.get(pk=holder.user_id or 0)
        return services.SeatHolder(index=index, role=role, kind="human", user=user)
    if holder.kind == "agent":
        user = User.objects.get(pk=holder.user_id or 0)
        return services.SeatHolder(index=index, role=role, kind="agent", user=user)
    if holder.kind == "policy":
        policy = Policy.objects.get(pk=holder.policy_id or 0)
        return services.SeatHolder(index=index, role=role, kind="policy", policy=policy)
    return services.SeatHolder(index=index, role=role, kind="vacant")
