"""Storing chunks and finalising episodes: idempotent, and honest about missing data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recording import services, transfer
from recording.models import Chunk, Episode, Transition

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def test_it_finalises_a_fully_stored_episode_as_complete(alice: Any, pong: Any) -> None:
    episode, played = record_episode(user=alice, game=pong, steps=120)
    episode.refresh_from_db()
    assert episode.status == Episode.Status.COMPLETE
    assert episode.integrity_error == ""
    assert episode.transitions.count() == 120
    assert episode.chunks.count() == episode.chunks_expected == 5
    last = services.episode_frame_rgb(episode=episode, number=120)
    assert last.shape == (210, 160, 3)
    assert len(np.unique(played[120])) == len(np.unique(last.reshape(-1, 3), axis=0))


def test_it_stores_a_chunk_once_when_the_task_runs_twice(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=30, store=False)
    episode_id = str(episode.pk)
    services.chunk_store(episode_id=episode_id, index=0)
    transfer.put(episode_id, 0, b"")  # a redelivered task finds the chunk row and stops
    services.chunk_store(episode_id=episode_id, index=0)
    assert Chunk.objects.filter(episode=episode, index=0).count() == 1
    assert Transition.objects.filter(episode=episode).count() == 25


def test_it_marks_an_episode_incomplete_with_the_reason_when_a_chunk_is_lost(
    alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=60, store=False)
    episode_id = str(episode.pk)
    services.chunk_store(episode_id=episode_id, index=0)
    transfer.discard(episode_id, 1)  # chunk 1 never reaches a worker
    services.chunk_store(episode_id=episode_id, index=2)
    Episode.objects.filter(pk=episode_id).update(status=Episode.Status.FINALISING)
    with pytest.raises(services.ChunksPending):
        services.episode_finalise(episode_id=episode_id)
    services.episode_finalise(episode_id=episode_id, give_up=True)
    episode.refresh_from_db()
    assert episode.status == Episode.Status.INCOMPLETE
    assert episode.integrity_error == "2 of 3 chunks stored"
    assert episode.transitions.count() == 35  # what did arrive is kept, not dropped


def test_it_finalises_only_once(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=30)
    episode.refresh_from_db()
    finalised_at = episode.finalised_at
    services.episode_finalise(episode_id=str(episode.pk))
    episode.refresh_from_db()
    assert episode.finalised_at == finalised_at


def test_it_raises_when_a_chunk_is_not_in_redis(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=30, store=False)
    transfer.discard(str(episode.pk), 0)
    with pytest.raises(services.ChunkMissing):
        services.chunk_store(episode_id=str(episode.pk), index=0)
