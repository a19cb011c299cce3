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


def _handed_over(alice: Any, pong: Any, steps: int) -> tuple[Episode, list[tuple[str, int]]]:
    episode, _ = record_episode(user=alice, game=pong, steps=steps, store=False)
    refs = [(str(episode.pk), i) for i in range(episode.chunks_expected or 0)]
    return episode, refs


def test_it_stores_a_batch_of_chunks_from_several_episodes_at_once(
    alice: Any, bob: Any, pong: Any
) -> None:
    first, first_refs = _handed_over(alice, pong, 60)
    second, second_refs = _handed_over(bob, pong, 40)
    services.chunks_store(refs=first_refs + second_refs)
    assert first.transitions.count() == 60 and second.transitions.count() == 40
    assert sorted(first.transitions.values_list("step", flat=True)) == list(range(60))
    step = second.transitions.get(step=39)
    assert step.obs_chunk.index == 1 and step.obs_index == 14
    assert transfer.get_many(first_refs + second_refs) == [None] * 5  # handed over, then freed


def test_it_stores_each_chunk_of_a_batch_once_when_the_task_runs_twice(
    alice: Any, pong: Any
) -> None:
    episode, refs = _handed_over(alice, pong, 60)
    services.chunk_store(episode_id=refs[1][0], index=refs[1][1])  # one already stored
    services.chunks_store(refs=refs)
    services.chunks_store(refs=refs)
    assert episode.chunks.count() == 3
    assert episode.transitions.count() == 60


def test_it_stores_the_rest_of_a_batch_and_reports_a_missing_chunk(alice: Any, pong: Any) -> None:
    episode, refs = _handed_over(alice, pong, 60)
    transfer.discard(*refs[1])
    with pytest.raises(services.ChunkMissing, match="not in Redis"):
        services.chunks_store(refs=refs)
    assert sorted(episode.chunks.values_list("index", flat=True)) == [0, 2]
    assert episode.transitions.count() == 35
