"""Record an episode without a socket: the same services the live session uses."""

from __future__ import annotations

from typing import Any

import numpy as np

from recording import chunkfile, scripted, services, transfer
from recording.models import Episode


def record_episode(
    *, user: Any, game: Any, steps: int, chunk_steps: int = 25, store: bool = True
) -> tuple[Episode, list[np.ndarray]]:
    """Play ``steps`` steps, hand every chunk over and (``store``) store them as a worker would.

    Returns the episode and the frames as played, for comparison with what was stored.
    """
    played = scripted.play(
        user=user, game=game, steps=steps, chunk_steps=chunk_steps, keep_frames=True
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
