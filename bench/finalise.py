"""`python -m bench finalise --minutes 10`: an episode's end to its replay verdict; replay speed.

A synthetic episode of ``minutes`` of 60 fps Pong (frameskip 1, a player who follows the ball,
so the game lasts) is recorded the way a live session records it: an ``AtariMachine`` started
from a seeded start state, a ``Recorder`` cutting a chunk a second, every chunk encoded. The
chunks go through the real hand-over (Redis, ``store_chunks`` and ``chunks_store``) into
PostgreSQL and storage, one a second as in play, with the worker's incremental verification
every ``ARCADE_VERIFY_EVERY_CHUNKS`` chunks; then the final chunk and ``episode_end``, whose
finalisation (audit and the replay check of the tail) is timed to the verdict. The same episode
is also finalised "cold" (no verification while played: the whole episode replayed at the end),
and once more as a game with sticky actions (``repeat_action_probability`` 0.25), verified
while played like any other.

Celery runs eagerly in this process, so the figures are the workers' own work, without queue
latency; PostgreSQL and Redis are real (``.ci/services.sh``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .stack import ROOT

GAME = "pong"
STICKY_GAME = "pong-sticky"  # Pong with repeat_action_probability 0.25, made by ``run``


@contextmanager
def _services() -> Iterator[None]:
    """PostgreSQL and Redis for this process, and Django set up against them."""
    folder = tempfile.mkdtemp(prefix="arcade-bench-finalise-")
    script = str(ROOT / ".ci/services.sh")
    subprocess.run([script, "install"], check=True)
    exports = subprocess.run(
        [script, "start", folder], check=True, capture_output=True, text=True
    ).stdout
    try:
        for line in exports.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            os.environ[key] = value
        os.environ.update(
            DJANGO_SETTINGS_MODULE="arcade.settings",
            MEDIA_ROOT=os.path.join(folder, "media"),
            ARCADE_VAR_DIR=os.path.join(folder, "var"),
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "--noinput", verbosity=0)
        call_command("load_catalogue", verbosity=0)
        from arcade.celery import app

        app.conf.task_always_eager = True
        app.conf.task_eager_propagates = True
        yield
    finally:
        subprocess.run([script, "stop", folder], check=False)


def _follow_the_ball(ram: np.ndarray, noise: int) -> int:
    """Pong's minimal actions: 2 moves the paddle up, 3 down, 0 holds still."""
    player, ball = int(ram[51]), int(ram[54])
    target = ball - 8 + noise
    return 2 if target < player - 3 else 3 if target > player + 3 else 0


def _record(user: Any, steps: int, seed: int, game: str) -> tuple[Any, list[Any], list[int]]:
    """Play and record an episode as a live session does; the episode row and its chunks."""
    from games.models import Game
    from play import scripted
    from recording.recorder import InputStamp

    noise = np.random.default_rng(seed).integers(-6, 7, size=steps)

    def follow_the_ball(step: int, machine: Any) -> int:
        return _follow_the_ball(machine.ale.getRAM(), int(noise[step]))

    def stamps(step: int) -> tuple[InputStamp, float]:
        now = 1.7e9 + step / 60
        return InputStamp(step // 20, step, now * 1e3, now * 1e3 - 3, now), now

    played = scripted.play(
        user=user,
        game=Game.objects.get(slug=game),
        steps=steps,
        seed=seed,
        chunk_steps=60,
        policy=follow_the_ball,
        stamps=stamps,
        start_state=True,
        stop_when_over=True,
    )
    return played.episode, played.chunks, played.actions


def _finalise(
    user: Any, steps: int, seed: int, verify_every: int, game: str = GAME
) -> dict[str, Any]:
    """Hand the episode over a chunk at a time, end it, and time its end to the verdict."""
    from django.conf import settings

    from recording import chunkfile, services
    from recording.models import Episode

    settings.ARCADE["VERIFY_EVERY_CHUNKS"] = verify_every
    episode, chunks, actions = _record(user, steps, seed, game)
    episode_id = str(episode.pk)
    blobs = [chunkfile.encode(chunk) for chunk in chunks]
    handover = []
    cpu = time.process_time()
    for index, blob in enumerate(blobs[:-1]):
        start = time.perf_counter()
        services.chunks_enqueue(items=[(episode_id, index, blob)])
        handover.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu
    played = Episode.objects.get(pk=episode_id)
    # The end: the web process ships the final chunk, then closes the episode.
    start, end_cpu = time.perf_counter(), time.process_time()
    services.chunks_enqueue(items=[(episode_id, len(blobs) - 1, blobs[-1])])
    services.episode_end(
        episode_id=episode_id, reason="abandoned", steps=len(actions), chunks=len(blobs)
    )
    finalise_s, end_cpu = time.perf_counter() - start, time.process_time() - end_cpu
    done = Episode.objects.get(pk=episode_id)
    return {
        "verify_every_chunks": verify_every,
        "steps": len(actions),
        "chunks": len(blobs),
        "status": done.status,
        "verification": done.verification,
        "verification_detail": done.verification_detail,
        "verified_steps_when_it_ended": played.verified_steps,
        # from the final chunk's hand-over to the verdict (store, audit, replay of the tail)
        "finalise_s": finalise_s,
        "finalise_cpu_s": end_cpu,
        # the workers' time per second of play (one chunk), verification passes included
        "handover_ms_per_chunk_mean": float(np.mean(handover) * 1e3),
        "handover_ms_per_chunk_max": float(np.max(handover) * 1e3),
        "handover_cpu_ms_per_chunk": cpu / len(handover) * 1e3,
        "_actions": actions,
    }


def _replay_speed(actions: list[int], seed: int) -> dict[str, float]:
    """Steps a second of the bare replay engine, by wall clock and by this process's CPU time
    (the second is steadier on a shared machine)."""
    from games.catalogue import ATARI_KWARGS
    from games.engine.replay import Replayer

    with Replayer("ALE/Pong-v5", dict(ATARI_KWARGS), seed) as replayer:
        wall, cpu = time.perf_counter(), time.process_time()
        for action in actions:
            replayer.step(action)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"replay_steps_per_s": len(actions) / wall, "replay_steps_per_cpu_s": len(actions) / cpu}


def run(*, minutes: float = 10.0, verify_every: int = 10) -> dict[str, Any]:
    # One step short of the minutes: the final chunk then holds 59 steps and the incremental
    # passes (every 10 chunks) leave the longest tail there can be, 599 steps, to the end.
    steps = int(minutes * 60 * 60) - 1
    with _services():
        from accounts.models import User
        from games.models import Game

        user = User.objects.create_user("bench@example.org", "bench-password-1")
        pong = Game.objects.get(slug=GAME)
        pong.pk, pong.slug = None, STICKY_GAME
        pong.env_kwargs = {**pong.env_kwargs, "repeat_action_probability": 0.25}
        pong.save()
        incremental = _finalise(user, steps, 5, verify_every)
        cold = _finalise(user, steps, 5, 0)
        sticky = _finalise(user, steps, 5, verify_every, game=STICKY_GAME)
        actions = incremental.pop("_actions")
        cold.pop("_actions")
        sticky.pop("_actions")
        speed = _replay_speed(actions, 5)
    played_steps = incremental["steps"]
    return {
        "minutes": minutes,
        "steps": played_steps,
        "incremental": incremental,
        "cold": cold,
        "sticky": sticky,
        **speed,
        # steps verified per second at finalisation when nothing was verified before
        "cold_verify_steps_per_s": played_steps / cold["finalise_s"],
        # the verify queue's CPU per second of play of one episode: sessions one core keeps up with
        "verify_cpu_ms_per_played_s": incremental["handover_cpu_ms_per_chunk"]
        - cold["handover_cpu_ms_per_chunk"],
        "finalise_within_5_s": all(
            point["finalise_s"] <= 5.0 and point["verification"] == "verified"
            for point in (incremental, sticky)
        ),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
