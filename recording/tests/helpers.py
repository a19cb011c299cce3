"""Record an episode without a socket: the same services the live session uses."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from games.engine.machines import build_machine
from recording import chunkfile, services, transfer
from recording.models import Episode
from recording.recorder import InputStamp, Recorder, record_step


def record_episode(
    *, user: Any, game: Any, steps: int, chunk_steps: int = 25, store: bool = True
) -> tuple[Episode, list[np.ndarray]]:
    """Play ``steps`` steps, hand every chunk over and (``store``) store them as a worker would.

    Returns the episode and the frames as played, for comparison with what was stored.
    """
    config = game.config()
    machine = build_machine(config)
    seed = 7
    machine.start(seed, None)
    episode = services.episode_start(
        user=user,
        game=game,
        seed=seed,
        frame_shape=list(machine.frame.shape),
        pixel_format=machine.pixel_format,
    )
    recorder = Recorder(
        episode=str(episode.pk), pixel_format=machine.pixel_format, chunk_steps=chunk_steps
    )
    played = [machine.frame.copy()]
    recorder.reset(machine.frame)
    if machine.palette is not None:
        recorder.add_colours(machine.palette.entries())
    chunks = []
    for step in range(steps):
        action = step // 10 % config.n_actions
        outcome = machine.step(action)
        record_step(
            recorder,
            machine,
            action=action,
            outcome=outcome,
            stamp=InputStamp(seq=step // 10),
            t_step=time.time(),
        )
        played.append(machine.frame.copy())
        if recorder.pending_steps >= chunk_steps:
            chunks.append(recorder.cut())
    chunks.append(recorder.cut(final=True))
    for chunk in chunks:
        assert chunk is not None
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
    return episode, played
