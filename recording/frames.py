"""Reading a stored episode back: its frames, palette and per-step columns, from its chunks.

Chunks decode forward from a keyframe chunk (docs/recording.md), so a whole episode is read
in one pass into one preallocated array, and a single frame from the nearest keyframe chunk
at or before it. The exporters, the admin's frame viewer and
playback read frames through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import chunkfile, stepcolumns
from .chunkfile import ChunkHeader
from .models import Chunk, Episode
from .stepcolumns import StepColumns


def palette_array(entries: list[list[int]] | None) -> np.ndarray:
    """A header's ``[index, r, g, b]`` entries as a 256 x 3 lookup table (unseen: black)."""
    palette = np.zeros((256, 3), np.uint8)
    for index, r, g, b in entries or []:
        palette[index] = (r, g, b)
    return palette


@dataclass
class EpisodeData:
    """A stored episode as arrays: T + 1 frames and T steps, exactly as recorded."""

    frames: np.ndarray  # (T + 1, *frame shape) uint8: palette indices or RGB
    pixel_format: str  # "indexed" or "rgb"
    palette: np.ndarray | None  # 256 x 3 for indexed frames (every colour the episode showed)
    steps: StepColumns  # T values each
    # Why the episode ends before its recording does, or "": an interrupted episode's last
    # stored step has no stored frame after it, so it is left out and the step before it is
    # marked truncated (``episode_data``).
    cut_short: str = ""

    @property
    def n_steps(self) -> int:
        return int(self.frames.shape[0]) - 1

    def rgb(self) -> np.ndarray:
        if self.palette is None:
            return self.frames
        return np.take(self.palette, self.frames, axis=0)  # 3x faster than palette[frames]


def _chunks(episode: Episode) -> list[Chunk]:
    return list(
        episode.chunks.order_by("index").only(
            "index", "first_frame", "n_frames", "n_steps", "keyframe", "file"
        )
    )


def _read(chunk: Chunk) -> bytes:
    with chunk.file.open("rb") as handle:
        return bytes(handle.read())


def episode_data(episode: Episode) -> EpisodeData:
    """Every frame and step of a stored episode; raises ValueError if chunks are missing.

    An interrupted episode (its live session was lost: no final chunk) gives its stored steps
    but the last, whose next frame was never stored, the one before it marked truncated.
    """
    chunks = _chunks(episode)
    if not chunks:
        raise ValueError(f"episode {episode.pk} has no stored chunks")
    n_frames = chunks[-1].first_frame + chunks[-1].n_frames
    frames = np.empty((n_frames, *episode.frame_shape), np.uint8)
    steps = stepcolumns.empty()
    previous = None
    expected = 0
    for chunk in chunks:
        if chunk.first_frame != expected:
            raise ValueError(f"episode {episode.pk}: chunk {chunk.index} is not where expected")
        view = frames[chunk.first_frame : chunk.first_frame + chunk.n_frames]
        header, decoded = chunkfile.decode(_read(chunk), previous)
        view[:] = decoded
        previous = view[-1]
        stepcolumns.extend(steps, header["steps"])
        expected += chunk.n_steps
    cut_short = ""
    if not header["final"] and episode.end_reason == Episode.EndReason.INTERRUPTED:
        frames, steps, cut_short = _cut_short(episode, frames, steps)
    elif not header["final"] or stepcolumns.n_steps(steps) != n_frames - 1:
        raise ValueError(f"episode {episode.pk}: the stored chunks do not end the episode")
    indexed = header["pixel_format"] == "indexed"
    return EpisodeData(
        frames=frames,
        pixel_format=header["pixel_format"],
        palette=palette_array(header["palette"]) if indexed else None,
        steps=steps,
        cut_short=cut_short,
    )


def _cut_short(
    episode: Episode, frames: np.ndarray, steps: StepColumns
) -> tuple[np.ndarray, StepColumns, str]:
    """An interrupted episode's N stored steps and frames 0 .. N - 1 as N - 1 steps: step N - 1
    produced frame N, which was never stored."""
    stored = stepcolumns.n_steps(steps)
    if stored != len(frames) or stored < 2:
        raise ValueError(f"episode {episode.pk}: too little of the interrupted episode is stored")
    kept = stepcolumns.sliced(steps, 0, stored - 1)
    kept["truncated"][-1] = True
    reason = (
        f"interrupted: the live session was lost after {stored} stored steps; the last of "
        "them is left out (the observation after it was not stored), and the one before it "
        "is marked truncated"
    )
    return frames, kept, reason


def iter_frames(episode: Episode) -> Iterator[np.ndarray]:
    """An episode's frames as RGB, one chunk in memory at a time (for long videos)."""
    previous = None
    for chunk in _chunks(episode):
        header, frames = chunkfile.decode(_read(chunk), previous)
        previous = frames[-1]
        if header["pixel_format"] == "indexed":
            yield from palette_array(header["palette"])[frames]
        else:
            yield from frames


def _decoded_chunk(episode: Episode, index: int) -> tuple[ChunkHeader, np.ndarray]:
    """Chunk ``index``'s header and frames, decoded forward from the keyframe chunk before it."""
    chunks = list(
        episode.chunks.filter(index__lte=index)
        .order_by("-index")
        .only("index", "first_frame", "n_frames", "keyframe", "file")[
            : chunkfile.KEYFRAME_EVERY + 1
        ]
    )
    if not chunks or chunks[0].index != index:
        raise Chunk.DoesNotExist(f"chunk {index} is not stored")
    start = next(i for i, chunk in enumerate(chunks) if chunk.keyframe)
    previous = None
    for chunk in reversed(chunks[1 : start + 1]):  # from the keyframe chunk, forward
        previous = chunkfile.decode(_read(chunk), previous)[1][-1]
    return chunkfile.decode(_read(chunks[0]), previous)


def _as_rgb(header: ChunkHeader, frames: np.ndarray) -> np.ndarray:
    if header["pixel_format"] == "indexed":
        return palette_array(header["palette"])[frames]
    return frames


def chunk_frames_rgb(*, episode: Episode, index: int) -> np.ndarray:
    """The RGB frames of chunk ``index``: what the admin's playback draws."""
    return _as_rgb(*_decoded_chunk(episode, index))


def episode_frame_rgb(*, episode: Episode, number: int) -> np.ndarray:
    """Frame ``number`` of a stored episode as RGB."""
    chunk = (
        episode.chunks.filter(first_frame__lte=number)
        .order_by("-index")
        .only("index", "first_frame", "n_frames")
        .first()
    )
    if chunk is None or number >= chunk.first_frame + chunk.n_frames:
        raise Chunk.DoesNotExist(f"frame {number} is not stored")
    header, frames = _decoded_chunk(episode, chunk.index)
    return _as_rgb(header, frames[number - chunk.first_frame : number - chunk.first_frame + 1])[0]
