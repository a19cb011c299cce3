"""Videos of recorded episodes: MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) or GIF.

Many Atari games draw some objects only on every other frame (Asteroids' asteroids; the
emulator's screen alternates between two half-drawn pictures, which a CRT's afterglow merged).
A GIF above 50 fps keeps every other frame and so can lose them all; CrowdPlay's display
filter, the pixel-wise maximum of each frame and the one before (``flicker_filter``), shows
both halves. It is an option of the videos (on by default for GIFs) and of the admin's
playback, and never touches stored or exported data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from recording.frames import iter_frames
from recording.models import Episode

FORMATS = ("mp4", "gif")


def _scaled(frames: Iterator[np.ndarray], scale: int) -> Iterator[np.ndarray]:
    for frame in frames:
        yield np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1) if scale > 1 else frame


def flicker_filter(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Each frame as the pixel-wise maximum of it and the frame before (the first as it is)."""
    previous: np.ndarray | None = None
    for frame in frames:
        yield frame if previous is None else np.maximum(frame, previous)
        previous = frame


def _counted(
    frames: Iterator[np.ndarray], progress: Callable[[int], object]
) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        progress(1)


def episode_render(
    *,
    episode: Episode,
    path: Path,
    fps: int | None = None,
    scale: int = 2,
    flicker: bool | None = None,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write the episode's frames to ``path`` (.mp4 or .gif) at the game's rate; frames written.

    Pixels are scaled up ``scale`` times without smoothing, so Atari screens stay sharp.
    ``flicker`` applies ``flicker_filter`` (default: for GIFs only). ``progress`` is called
    with 1 for every stored frame read.
    """
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise ValueError(f"{path.name}: write a .mp4 or a .gif")
    rate = fps or int(episode.env_spec.get("fps") or 60)
    stored: Iterator[np.ndarray] = iter_frames(episode)
    if progress is not None:
        stored = _counted(stored, progress)
    if kind == "gif" if flicker is None else flicker:
        stored = flicker_filter(stored)
    frames = _scaled(stored, scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _mp4(frames, path, rate) if kind == "mp4" else _gif(frames, path, rate)


def _mp4(frames: Iterator[np.ndarray], path: Path, fps: int) -> int:
    first = next(frames)
    height, width = first.shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        macro_block_size=2,  # 210-pixel screens are even, not multiples of 16: no resize
        output_params=["-movflags", "+faststart"],
    )
    writer.send(None)
    count = 0
    try:
        for frame in _chain(first, frames):
            writer.send(np.ascontiguousarray(frame))
            count += 1
    finally:
        writer.close()
    return count


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _gif(frames: Iterator[np.ndarray], path: Path, fps: int) -> int:
    # GIF delays are whole centiseconds and browsers slow anything under 2 cs: above 50 fps,
    # keep every other frame and show each twice as long, so the clip plays in real time.
    step = 2 if fps > 50 else 1
    images = [Image.fromarray(frame) for i, frame in enumerate(frames) if i % step == 0]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=round(1000 * step / fps),
        loop=0,
        optimize=False,
    )
    return len(images)
