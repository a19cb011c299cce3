"""Figures that need no server: the wire codec and storage, over the catalogue's games.

Frames come from real play: each game is stepped with a scripted mix of actions (held for a
while, like a person), from a fixed seed.
"""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import numpy as np
from PIL import Image

from games.catalogue import ATARI_KWARGS, DEFAULT_GAMES
from games.engine import codec
from games.engine.machines import AtariMachine
from recording import chunkfile
from recording.recorder import InputStamp, Recorder, record_step

ATARI = [g for g in DEFAULT_GAMES if g["env_id"].startswith("ALE/")]


def _play(env_id: str, steps: int, seed: int = 1) -> AtariMachine:
    machine = AtariMachine(env_id, dict(ATARI_KWARGS))
    machine.start(seed, None)
    return machine


def _actions(machine: AtariMachine, steps: int) -> list[int]:
    rng = np.random.default_rng(0)
    actions, action = [], 0
    for step in range(steps):
        if step % 15 == 0:
            action = int(rng.integers(len(machine.action_set)))
        actions.append(action)
    return actions


KEY_SETS = (("ArrowLeft",), ("ArrowRight", "Space"), (), ("KeyW", "KeyD"))


def _timings(steps: int) -> tuple[list[InputStamp], list[float], list[float]]:
    """Input stamps, step times and frame send times as a live session records them, noise
    included: a key press every 15 steps (``_actions``) with the keys held, the client's times
    at 0.1 ms resolution (Chrome's ``performance.now()``) and the server's receive time; each
    step's time on a 60 Hz clock with 0.5 ms of jitter, its frame sent 0.1 to 0.4 ms later.
    Regular, noiseless times would compress to nothing and flatter the figure."""
    rng = np.random.default_rng(1)
    start_wall, start_client = 1.7e9 + float(rng.random()), 5.0e5 + float(rng.random()) * 1e3
    stamps, times, sent, stamp = [], [], [], InputStamp()
    for step in range(steps):
        t = step / 60
        if step % 15 == 0:
            drawn = start_client + (t - 0.02) * 1e3 + float(rng.random()) * 16
            stamp = InputStamp(
                seq=stamp.seq + 1,
                client_frame=max(step - 2, 0),
                t_shown=round(drawn, 1),
                t_key=round(drawn + float(rng.random()) * 16, 1),
                t_received=start_wall + t - 0.004 + float(rng.random()) * 0.004,
                keys=KEY_SETS[stamp.seq % len(KEY_SETS)],
            )
        stamps.append(stamp)
        times.append(start_wall + t + float(rng.normal(0, 0.0005)))
        sent.append(times[-1] + 0.0001 + float(rng.random()) * 0.0003)
    return stamps, times, sent


def codec_figures(frames_per_game: int = 1200) -> dict[str, Any]:
    """Bytes and microseconds per frame for our codec and the alternatives, per game."""
    per_game: dict[str, Any] = {}
    for game in ATARI:
        machine = _play(game["env_id"], frames_per_game)
        sizes, times, keyframes, key_times = [], [], [], []
        png: list[int] = []
        jpeg: list[int] = []
        jpeg_json: list[int] = []
        for number, action in enumerate(_actions(machine, frames_per_game)):
            machine.step(action)
            assert machine.diff is not None
            start = time.perf_counter()
            payload = codec.delta(machine.diff)
            times.append(time.perf_counter() - start)
            sizes.append(len(payload) + 32)
            if number % 60 == 0:
                start = time.perf_counter()
                keyframes.append(len(codec.keyframe(machine.frame)) + 32)
                key_times.append(time.perf_counter() - start)
                assert machine.palette is not None
                machine.new_colours()
                rgb = Image.fromarray(machine.palette.rgb[machine.frame])
                for fmt, sink, options in (("PNG", png, {}), ("JPEG", jpeg, {"quality": 75})):
                    buffer = io.BytesIO()
                    rgb.save(buffer, format=fmt, **options)
                    sink.append(buffer.tell())
                    if fmt == "JPEG":
                        text = base64.b64encode(buffer.getvalue()).decode()
                        jpeg_json.append(len(json.dumps({"type": "frame", "image": text})))
            else:
                machine.new_colours()
        per_game[game["slug"]] = {
            "bytes_per_frame": float(np.mean(sizes)),
            "encode_us": float(np.mean(times) * 1e6),
            "keyframe_bytes_mean": float(np.mean(keyframes)),
            "keyframe_bytes_max": int(max(keyframes)),
            "keyframe_encode_us": float(np.mean(key_times) * 1e6),
            "png_bytes": float(np.mean(png)),
            "jpeg_q75_bytes": float(np.mean(jpeg)),
            "jpeg_base64_json_bytes": float(np.mean(jpeg_json)),
        }
        machine.close()
    mean = {
        key: float(np.mean([g[key] for g in per_game.values()]))
        for key in next(iter(per_game.values()))
    }
    mean["keyframe_bytes_max"] = max(g["keyframe_bytes_max"] for g in per_game.values())
    return {"games": per_game, "catalogue": mean}


def storage_figures(seconds: float = 60.0, chunk_steps: int = 60) -> dict[str, Any]:
    """Stored bytes per hour of 60 fps play, frames lossless plus all per-step data, per game.

    Each game is played for ``seconds`` of game time and recorded exactly as a live session
    records it (chunks of a second); chunk sizes are scaled to an hour. Also: how fast the
    stored chunks decode back into frames, the first step of every export.
    """
    per_game: dict[str, Any] = {}
    decode_frames = decode_seconds = 0.0
    steps = int(seconds * 60)
    for game in ATARI:
        machine = _play(game["env_id"], steps)
        recorder = Recorder(episode="bench", pixel_format="indexed", chunk_steps=chunk_steps)
        recorder.reset(machine.frame)
        blobs = []
        stamps, times, sent = _timings(steps)
        for step, action in enumerate(_actions(machine, steps)):
            outcome = machine.step(action)
            record_step(
                recorder,
                machine,
                action=action,
                outcome=outcome,
                stamp=stamps[step],
                t_step=times[step],
            )
            recorder.sent(sent[step])
            if recorder.pending_steps >= chunk_steps:
                chunk = recorder.cut()
                assert chunk is not None
                blobs.append(chunkfile.encode(chunk))
        final = recorder.cut(final=True)
        assert final is not None
        blobs.append(chunkfile.encode(final))
        total = sum(len(b) for b in blobs)
        start = time.perf_counter()
        previous = None
        for blob in blobs:
            _, frames = chunkfile.decode(blob, previous)
            previous = frames[-1]
        decode_seconds += time.perf_counter() - start
        decode_frames += steps + 1
        header = sum(chunkfile.header_bytes(b) for b in blobs)
        per_game[game["slug"]] = {
            "mb_per_hour": total / seconds * 3600 / 1e6,
            "steps_mb_per_hour": header / seconds * 3600 / 1e6,  # the header: fields and steps
        }
        machine.close()
    mean = float(np.mean([g["mb_per_hour"] for g in per_game.values()]))
    return {
        "games": per_game,
        "catalogue_mb_per_hour": mean,
        "catalogue_header_mb_per_hour": float(
            np.mean([g["steps_mb_per_hour"] for g in per_game.values()])
        ),
        "chunk_decode_frames_per_second": decode_frames / decode_seconds,
    }
