"""`python -m bench export`: dataset export speed from stored chunks, on one core.

Records a few minutes of Pong (frame-by-frame, scripted actions) into chunks in a scratch
media folder and SQLite database, exactly as the workers store them, then times
``dataset_export`` for each format and observation with the process pinned to one core and
Arrow's thread pools at one thread. Target: Minari (Parquet, lossless RGB) at 20,000 steps/s.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_STEPS_PER_SECOND = 20_000


def _setup(scratch: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="arcade.settings",
        ARCADE_VAR_DIR=str(scratch / "var"),
        MEDIA_ROOT=str(scratch / "media"),
        ARCADE_PREWARM="0",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("ARCADE_STORAGE_BUCKET", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _record(*, episodes: int, steps: int, chunk_steps: int = 60) -> int:
    """Store ``episodes`` Pong episodes of ``steps`` steps as chunks; the steps stored.

    The chunks go straight to storage and their rows, as the workers store them, without
    Redis or the transitions (exports read the chunks alone).
    """
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from accounts.models import User
    from games.catalogue import DEFAULT_GAMES
    from games.models import Game
    from games.services import game_prepare
    from play import scripted
    from recording import chunkfile, services
    from recording.models import Chunk, Episode

    entry = next(e for e in DEFAULT_GAMES if e["slug"] == "pong")
    game = Game(**entry)
    game_prepare(game)
    game.save()
    user = User.objects.create_user("bench@example.org", "bench-password-1")
    total = 0
    for number in range(episodes):
        played = scripted.play(
            user=user,
            game=game,
            steps=steps,
            seed=number,
            chunk_steps=chunk_steps,
            policy=scripted.hold_each_action(15),
            stamps=scripted.pressed_with(15),
        )
        episode_id = str(played.episode.pk)
        for chunk in played.chunks:
            blob = chunkfile.encode(chunk)
            index = chunk.header["index"]
            name = default_storage.save(services.chunk_path(episode_id, index), ContentFile(blob))
            Chunk.objects.create(
                episode_id=episode_id,
                index=index,
                first_frame=chunk.header["first_frame"],
                n_frames=chunk.n_frames,
                n_steps=chunk.header["n_steps"],
                keyframe=chunk.first is not None,
                file=name,
                size=len(blob),
            )
        Episode.objects.filter(pk=episode_id).update(
            status=Episode.Status.COMPLETE, steps=steps, total_return=0.0
        )
        total += steps
    return total


def _one_core() -> str:
    import pyarrow

    pyarrow.set_cpu_count(1)
    pyarrow.set_io_thread_count(1)
    if hasattr(os, "sched_setaffinity"):
        core = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def run(*, minutes: float = 3.0, episodes: int = 3) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="arcade-bench-export-"))
    _setup(scratch)
    steps = int(minutes * 60 * 60 / episodes)
    started = time.perf_counter()
    stored = _record(episodes=episodes, steps=steps)
    recorded_in = time.perf_counter() - started
    pinned = _one_core()

    from exports.services import EpisodeQuery, dataset_export
    from recording.frames import episode_data
    from recording.models import Episode

    read_started = time.process_time()
    for episode in Episode.objects.all():
        episode_data(episode)
    read_seconds = time.process_time() - read_started

    # Imports and Minari's first dataset cost a second or two once per process: not measured.
    dataset_export(query=EpisodeQuery(), destination=str(scratch / "warm-up"), format="minari")
    runs: list[dict[str, Any]] = []
    for format, observation in (
        ("minari", "rgb"),
        ("minari", "indices"),
        ("minari-arrow", "rgb"),
        ("minari-arrow", "indices"),
        ("parquet", "rgb"),
        ("parquet", "indices"),
        ("minari", "atari"),
    ):
        destination = scratch / f"{format}-{observation}"
        began, cpu = time.perf_counter(), time.process_time()
        summary = dataset_export(
            query=EpisodeQuery(),
            destination=str(destination),
            format=format,
            observation=observation,
        )
        # CPU time is the figure: the wall clock also counts other processes on a busy core.
        seconds = time.process_time() - cpu
        wall = time.perf_counter() - began
        size = _size(destination)
        runs.append(
            {
                "format": format,
                "observation": observation,
                "episodes": summary.exported,
                "recorded_steps": stored,
                "cpu_seconds": round(seconds, 3),
                "wall_seconds": round(wall, 3),
                "recorded_steps_per_second": round(stored / seconds),
                "bytes": size,
                "gb_per_hour_of_60fps_play": round(size / stored * 216_000 / 1e9, 2),
            }
        )
    headline: dict[str, Any] = runs[0]
    indices: dict[str, Any] = runs[1]
    return {
        "machine": {"cores": os.cpu_count(), "export": pinned},
        "recorded": {"episodes": episodes, "steps": stored, "seconds": round(recorded_in, 1)},
        "read_chunks_steps_per_second": round(stored / read_seconds),
        "runs": runs,
        "minari_rgb_steps_per_second": headline["recorded_steps_per_second"],
        "target_steps_per_second": TARGET_STEPS_PER_SECOND,
        "meets_target": headline["recorded_steps_per_second"] >= TARGET_STEPS_PER_SECOND,
        "minari_indices_steps_per_second": indices["recorded_steps_per_second"],
        "meets_target_indices": indices["recorded_steps_per_second"] >= TARGET_STEPS_PER_SECOND,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Export from stored chunks, {result['machine']['export']} "
        f"({result['recorded']['steps']} steps of Pong in {result['recorded']['episodes']} "
        f"episodes); reading chunks alone: {result['read_chunks_steps_per_second']:,} steps/s",
        "",
        "| format | observation | steps/s (CPU time) | GB per hour of 60 fps play |",
        "|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['format']} | {run['observation']} | "
            f"{run['recorded_steps_per_second']:,} | {run['gb_per_hour_of_60fps_play']} |"
        )
    lines.append("")
    target = f"{result['target_steps_per_second']:,} steps/s"
    lines.append(
        f"Target: Minari (Parquet, lossless) at {target}: palette indices "
        f"{'met' if result['meets_target_indices'] else 'NOT met'}, RGB "
        f"{'met' if result['meets_target'] else 'NOT met'}."
    )
    return "\n".join(lines)
