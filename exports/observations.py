"""What an exported observation is: RGB, grayscale, palette indices, RAM, or Atari-preprocessed.

Each transform turns a stored episode (T + 1 frames, T steps) into a ``Trajectory``: N + 1
observations and N steps. Every transform but ``atari`` keeps the steps as recorded (N = T).
``atari`` follows Gymnasium's ``AtariPreprocessing`` (noop_max=0, frame_skip=4,
screen_size=84, grayscale, terminal_on_life_loss=False) followed by
``FrameStackObservation(stack_size=4, padding_type="reset")``, applied to recorded play: see
``atari_preprocess``. No Django here: the transforms are plain array code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from recording.frames import EpisodeData

OBSERVATIONS = ("rgb", "grayscale", "indices", "ram", "atari")

FRAME_SKIP = 4
SCREEN_SIZE = 84
STACK = 4
RAM_BYTES = 128

# ALE's grayscale screen (getScreenGrayscale) is round(0.2989 R + 0.5870 G + 0.1140 B).
_LUMA = (2989, 5870, 1140)


class ObservationUnavailable(ValueError):
    """This observation cannot be made for this game (e.g. RAM of a non-Atari env)."""


@dataclass
class Trajectory:
    """What a format writes for one episode: N + 1 observations and N steps."""

    actions: np.ndarray  # (N,) int64
    rewards: np.ndarray  # (N,) float64
    terminations: np.ndarray  # (N,) bool
    truncations: np.ndarray  # (N,) bool
    raw_steps: np.ndarray  # (N,) the recorded step each step starts at (t, or 4k for atari)
    # The observations (N + 1, *space shape); or, with ``palette`` set, the palette indices
    # they are looked up from: RGB of an indexed game is made when ``observations`` is first
    # read, so a writer that looks it up a page at a time (episode_parquet) never holds it.
    stored: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint8))
    palette: np.ndarray | None = None  # 256 x 3

    @property
    def observations(self) -> np.ndarray:
        if self.palette is not None:
            self.stored, self.palette = np.take(self.palette, self.stored, axis=0), None
        return self.stored

    @observations.setter
    def observations(self, value: np.ndarray) -> None:
        self.stored, self.palette = value, None

    @property
    def n_observations(self) -> int:
        return len(self.stored)


def trajectory_steps(data: EpisodeData) -> Trajectory:
    """The recorded steps, with no observations yet (filled by the transform)."""
    steps = data.steps
    return Trajectory(
        actions=np.asarray(steps["action"], np.int64),
        rewards=np.asarray(steps["reward"], np.float64),
        terminations=np.asarray(steps["terminated"], bool),
        truncations=np.asarray(steps["truncated"], bool),
        raw_steps=np.arange(data.n_steps, dtype=np.int64),
    )


def observation_space(name: str, frame_shape: list[int], pixel_format: str) -> gym.spaces.Box:
    """The Gymnasium space of one observation, for the dataset's metadata."""
    check_available(name, pixel_format)
    height, width = frame_shape[:2]
    shape: tuple[int, ...] = {
        "rgb": (height, width, 3),
        "grayscale": (height, width),
        "indices": (height, width),
        "ram": (RAM_BYTES,),
        "atari": (STACK, SCREEN_SIZE, SCREEN_SIZE),
    }[name]
    return gym.spaces.Box(0, 255, shape, np.uint8)


def check_available(name: str, pixel_format: str) -> None:
    if name not in OBSERVATIONS:
        raise ObservationUnavailable(f"unknown observation {name!r}: use one of {OBSERVATIONS}")
    if name in ("indices", "ram", "atari") and pixel_format != "indexed":
        raise ObservationUnavailable(
            f"the {name!r} observation needs an Atari (ALE) game; this one records RGB frames"
        )


# --- the transforms ------------------------------------------------------------------------


def rgb(data: EpisodeData) -> np.ndarray:
    return data.rgb()


def gray_lut(palette: np.ndarray) -> np.ndarray:
    """Palette index -> ALE grayscale value."""
    weighted = palette.astype(np.int64) @ np.asarray(_LUMA, np.int64)
    return ((weighted + 5000) // 10000).astype(np.uint8)


def grayscale(data: EpisodeData) -> np.ndarray:
    if data.palette is not None:
        return gray_lut(data.palette)[data.frames]
    weighted = data.frames.astype(np.int32) @ np.asarray(_LUMA, np.int32)
    return ((weighted + 5000) // 10000).astype(np.uint8)


def indices(data: EpisodeData) -> np.ndarray:
    return data.frames


# --- OpenCV's INTER_AREA, exactly ------------------------------------------------------------


def _area_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights of each destination pixel, as OpenCV's computeResizeAreaTab.

    Gymnasium resizes with ``cv2.resize(..., interpolation=cv2.INTER_AREA)``; OpenCV is not a
    dependency of Arcade (only of its tests), so its area weights and its float32 accumulation
    order are reproduced; exports/tests/test_observations.py checks them against OpenCV.
    """
    scale = src / dst
    rows: list[list[tuple[int, float]]] = []
    for d in range(dst):
        lo, hi = d * scale, d * scale + scale
        first, last = math.ceil(lo), math.floor(hi)
        cell = min(scale, src - lo)
        taps: list[tuple[int, float]] = []
        if first - lo > 1e-3:
            taps.append((first - 1, (first - lo) / cell))
        taps.extend((s, 1 / cell) for s in range(first, min(last, src)))
        if hi - last > 1e-3 and last < src:
            taps.append((last, min(min(hi - last, 1.0), cell) / cell))
        rows.append(taps)
    width = max(len(taps) for taps in rows)
    index = np.zeros((dst, width), np.intp)
    weight = np.zeros((dst, width), np.float32)
    for d, taps in enumerate(rows):
        for j, (s, w) in enumerate(taps):
            index[d, j], weight[d, j] = s, w
    return index, weight


_TAPS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    if (src, dst) not in _TAPS:
        _TAPS[src, dst] = _area_taps(src, dst)
    return _TAPS[src, dst]


def area_resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (N, H, W) uint8 images to (N, height, width) as cv2.INTER_AREA does."""
    height, width = size
    x_index, x_weight = _taps(images.shape[2], width)
    y_index, y_weight = _taps(images.shape[1], height)
    source = images.astype(np.float32)
    across = np.zeros((images.shape[0], images.shape[1], width), np.float32)
    for j in range(x_index.shape[1]):  # horizontal pass first, taps in order, as OpenCV
        across += source[:, :, x_index[:, j]] * x_weight[:, j]
    out = np.zeros((images.shape[0], height, width), np.float32)
    for j in range(y_index.shape[1]):
        out += across[:, y_index[:, j], :] * y_weight[:, j, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def atari_preprocess(gray: np.ndarray, steps: Trajectory) -> Trajectory:
    """Gymnasium's AtariPreprocessing + FrameStackObservation over recorded frame-by-frame play.

    Preprocessed step k covers recorded steps 4k .. 4k+3. As in the wrapper: rewards are
    summed; the observation is the max of the frames after the third and fourth of them, resized
    to 84 x 84 (INTER_AREA); a step that terminates or truncates ends the group early, and then
    the wrapper's buffers keep what they held. The reset observation is frame 0 (noop_max=0:
    recorded play has no random no-ops). The action is the one taken at step 4k (players may
    change keys within the group; the raw steps are in the other observations). A last group
    cut short without termination or truncation (the player left) is dropped. Observations are
    the last four preprocessed frames, padded at the start with the first.
    """
    total = len(steps.actions)
    newest = gray[0].copy()  # the wrapper's obs_buffer[0], pooled in place
    older = np.zeros_like(newest)  # obs_buffer[1]
    pooled = [newest.copy()]
    starts: list[int] = []
    rewards: list[float] = []
    terminations: list[bool] = []
    truncations: list[bool] = []
    start = 0
    while start < total:
        reward, terminated, truncated = 0.0, False, False
        for t in range(FRAME_SKIP):
            step = start + t
            if step >= total:
                break
            reward += float(steps.rewards[step])
            terminated = bool(steps.terminations[step])
            truncated = bool(steps.truncations[step])
            if terminated or truncated:
                break
            if t == FRAME_SKIP - 2:
                older = gray[step + 1]
            elif t == FRAME_SKIP - 1:
                newest = gray[step + 1].copy()
        if step >= total:
            break  # cut short by the end of the recording: no wrapper step to match
        np.maximum(newest, older, out=newest)
        pooled.append(newest.copy())
        starts.append(start)
        rewards.append(reward)
        terminations.append(terminated)
        truncations.append(truncated)
        if terminated or truncated:
            break
        start += FRAME_SKIP
    small = area_resize(np.stack(pooled), (SCREEN_SIZE, SCREEN_SIZE))
    picks = np.arange(len(small))[:, None] + np.arange(-STACK + 1, 1)[None, :]
    first = np.asarray(starts, np.int64)
    return Trajectory(
        stored=small[np.clip(picks, 0, None)],
        actions=steps.actions[first] if starts else np.empty(0, np.int64),
        rewards=np.asarray(rewards, np.float64),
        terminations=np.asarray(terminations, bool),
        truncations=np.asarray(truncations, bool),
        raw_steps=first,
    )


# --- RAM, by replay ----------------------------------------------------------------------

# Takes the episode (a recording.models.Episode) and yields its T + 1 RAM states, 128 bytes.
RamSource = Callable[[Any], Iterator[np.ndarray]]


def transform(
    name: str, data: EpisodeData, *, episode: Any = None, ram: RamSource | None = None
) -> Trajectory:
    """The episode's observations as ``name``, with the matching steps."""
    check_available(name, data.pixel_format)
    steps = trajectory_steps(data)
    if name == "atari":
        return atari_preprocess(grayscale(data), steps)
    if name == "ram":
        if ram is None or episode is None:
            raise ObservationUnavailable("RAM observations need the episode and a replay")
        states = np.stack(list(ram(episode)))
        if states.shape != (data.n_steps + 1, RAM_BYTES):
            raise ValueError(f"replay gave {states.shape[0]} RAM states for {data.n_steps} steps")
        steps.observations = states
        return steps
    if name == "rgb" and data.palette is not None:
        steps.stored, steps.palette = data.frames, data.palette  # looked up when read
        return steps
    steps.observations = {"rgb": rgb, "grayscale": grayscale, "indices": indices}[name](data)
    return steps
