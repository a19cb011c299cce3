"""What an exported observation is: RGB, grayscale, palette indices, RAM, or Atari-preprocessed.

Each transform turns a stored episode (T + 1 frames, T steps) into a ``Trajectory``: N + 1
observations and N steps. Every transform but ``atari`` keeps the steps as recorded (N = T).
``atari`` follows Gymnasium's ``AtariPreprocessing`` (noop_max=0, frame_skip=4,
screen_size=84, grayscale, terminal_on_life_loss=False) followed by
``FrameStackObservation(stack_size=4, padding_type="reset")``, applied to recorded play: see
``atari_preprocess``. No Django here: the transforms are plain array code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from games.engine.observations import (
    FRAME_SKIP,
    RAM_BYTES,
    SCREEN_SIZE,
    STACK,
    MaxPool,
    ObservationUnavailable,
    area_resize,
    gray_lut,
    observation_shape,
    to_grayscale,
)
from recording.frames import EpisodeData

# Where the transforms live now (the live policies share them); the names exports used stay.
__all__ = [
    "FRAME_SKIP",
    "OBSERVATIONS",
    "RAM_BYTES",
    "SCREEN_SIZE",
    "STACK",
    "ObservationUnavailable",
    "RamSource",
    "Trajectory",
    "area_resize",
    "atari_preprocess",
    "check_available",
    "gray_lut",
    "grayscale",
    "indices",
    "observation_space",
    "rgb",
    "trajectory_steps",
    "transform",
]

OBSERVATIONS = ("rgb", "grayscale", "indices", "ram", "atari")


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
    return gym.spaces.Box(0, 255, observation_shape(name, tuple(frame_shape)), np.uint8)


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


def grayscale(data: EpisodeData) -> np.ndarray:
    return to_grayscale(data.frames, data.palette)


def indices(data: EpisodeData) -> np.ndarray:
    return data.frames


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
    pool = MaxPool(FRAME_SKIP)  # the wrapper's screen buffers, as the live policies keep them
    pooled = [pool.reset(gray[0])]
    starts: list[int] = []
    rewards: list[float] = []
    terminations: list[bool] = []
    truncations: list[bool] = []
    start, reward = 0, 0.0
    for step in range(total):
        reward += float(steps.rewards[step])
        terminated = bool(steps.terminations[step])
        truncated = bool(steps.truncations[step])
        frame = pool.push(gray[step + 1], ended=terminated or truncated)
        if frame is None:
            continue  # a group cut short by the end of the recording makes no wrapper step
        pooled.append(frame)
        starts.append(start)
        rewards.append(reward)
        terminations.append(terminated)
        truncations.append(truncated)
        if terminated or truncated:
            break
        start, reward = step + 1, 0.0
    # Resized all at once (AtariFrames resizes one at a time, for play): the same pixels.
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
