"""Record an episode without a socket: the same services the live session uses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from play import scripted
from recording import chunkfile, services, transfer
from recording.models import Episode


def record_episode(
    *,
    user: Any,
    game: Any,
    steps: int,
    chunk_steps: int = 25,
    store: bool = True,
    **play: Any,
) -> tuple[Episode, list[np.ndarray]]:
    """Play ``steps`` steps, hand every chunk over and (``store``) store them as a worker would.

    ``play`` goes to ``scripted.play`` (``stamps``, ``sent``, ``policy``). Returns the episode
    and the frames as played, for comparison with what was stored.
    """
    played = scripted.play(
        user=user, game=game, steps=steps, chunk_steps=chunk_steps, keep_frames=True, **play
    )
    episode, chunks = played.episode, played.chunks
    for chunk in chunks:
        index = chunk.header["index"]
        transfer.put(str(episode.pk), index, chunkfile.encode(chunk))
        if store:
            services.chunk_store(episode_id=str(episode.pk), index=index)
    # Ended as the live session ends it; without storing, the test plays the worker itself.
    Episode.objects.filter(pk=episode.pk).update(chunks_expected=len(chunks), steps=steps)
    if store:
        services.episode_end(
            episode_id=str(episode.pk), reason="abandoned", steps=steps, chunks=len(chunks)
        )
    episode.refresh_from_db()
    return episode, played.frames


LONG_AGO = timedelta(minutes=5)


def died_mid_play(user: Any, game: Any, *, stored: int) -> Episode:
    """An episode of 5 chunks whose web process died before its final cut.

    ``stored`` chunks reached a worker; the rest wait in Redis, the final one never left.
    """
    episode, _ = record_episode(user=user, game=game, steps=100, chunk_steps=25, store=False)
    episode_id = str(episode.pk)
    transfer.discard(episode_id, 4)  # the final chunk (terminal frame only) was never cut
    for index in range(stored):
        services.chunk_store(episode_id=episode_id, index=index)
    Episode.objects.filter(pk=episode_id).update(
        status=Episode.Status.ACTIVE,
        chunks_expected=None,
        steps=0,
        heartbeat_at=timezone.now() - LONG_AGO,
    )
    return episode
