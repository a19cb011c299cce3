"""What a policy (or a dataset) sees of a game: RGB, grayscale, RAM, or Atari-preprocessed.

One implementation serves both the live policies (games/engine/policies.py, frame by frame)
and the dataset exports (exports/observations.py, over a recorded episode). The Atari
preprocessing is Gymnasium's ``AtariPreprocessing`` (noop_max=0, frame_skip=4, screen_size=84,
grayscale, terminal_on_life_loss=False) followed by ``FrameStackObservation(stack_size=4,
padding_type="reset")``: ``MaxPool`` holds the wrapper's two screen buffers, ``AtariFrames``
adds the resize and the stack. A live observer (``Observer``) copies on the tick only the raw
frames a group pools, and pools, resizes and stacks them when a decision is made, on the
decision's thread (``Pooled``, ``Stacked``). exports/tests/test_observations.py and
games/engine/tests/test_observations.py hold both to the wrappers (with OpenCV) frame for frame.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

POLICY_OBSERVATIONS = ("rgb", "grayscale", "ram", "atari")

FRAME_SKIP = 4
SCREEN_SIZE = 84
STACK = 4
RAM_BYTES = 128

# ALE's grayscale screen (getScreenGrayscale) is round(0.2989 R + 0.5870 G + 0.1140 B).
_LUMA = (2989, 5870, 1140)


class ObservationUnavailable(ValueError):
    """This observation cannot be made for this game (e.g. RAM of a non-Atari env)."""


def observation_shape(name: str, frame_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one ``name`` observation (all are uint8) of a game with these frames."""
    height, width = frame_shape[:2]
    shapes: dict[str, tuple[int, ...]] = {
        "rgb": (height, width, 3),
        "grayscale": (height, width),
        "indices": (height, width),
        "ram": (RAM_BYTES,),
        "atari": (STACK, SCREEN_SIZE, SCREEN_SIZE),
    }
    if name not in shapes:
        raise ObservationUnavailable(f"unknown observation {name!r}: use one of {tuple(shapes)}")
    return shapes[name]


# --- colour ----------------------------------------------------------------------------------


def gray_lut(palette: np.ndarray) -> np.ndarray:
    """Palette index -> ALE grayscale value."""
    # A live policy asks for it every other frame, and a game's palette changes only when it
    # shows a new colour: the table is kept per palette (by its bytes), not made again.
    key = palette.tobytes()
    lut = _GRAY_LUTS.get(key)
    if lut is None:
        weighted = palette.astype(np.int64) @ np.asarray(_LUMA, np.int64)
        lut = ((weighted + 5000) // 10000).astype(np.uint8)
        lut.setflags(write=False)
        if len(_GRAY_LUTS) >= 64:  # (None: another decision thread may have popped it)
            _GRAY_LUTS.pop(next(iter(_GRAY_LUTS)), None)
        _GRAY_LUTS[key] = lut
    return lut


_GRAY_LUTS: dict[bytes, np.ndarray] = {}


def _gray_pairs(lut: np.ndarray) -> np.ndarray:
    """Two neighbouring pixels' indices (as one little-endian uint16) -> their two grays."""
    pairs = _GRAY_PAIRS.get(id(lut))
    if pairs is None or pairs[0] is not lut:
        wide = lut.astype(np.uint16)
        table = ((wide[:, None] << 8) | wide[None, :]).reshape(-1)  # [high * 256 + low]
        if len(_GRAY_PAIRS) >= 64:
            _GRAY_PAIRS.pop(next(iter(_GRAY_PAIRS)), None)
        pairs = _GRAY_PAIRS[id(lut)] = (lut, table)
    return pairs[1]


_GRAY_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_PAIRED = sys.byteorder == "little"


def to_grayscale(frames: np.ndarray, palette: np.ndarray | None) -> np.ndarray:
    """Grayscale of palette-index frames (with their 256 x 3 palette) or of RGB frames (None)."""
    if palette is not None:
        lut = gray_lut(palette)
        pairs = frames.dtype == np.uint8 and frames.size and frames.shape[-1] % 2 == 0
        if _PAIRED and pairs and frames.flags.c_contiguous:  # two pixels a lookup: half of them
            return np.take(_gray_pairs(lut), frames.view(np.uint16)).view(np.uint8)
        return np.take(lut, frames)  # (a few times faster than lut[frames])
    weighted = frames.astype(np.int32) @ np.asarray(_LUMA, np.int32)
    return ((weighted + 5000) // 10000).astype(np.uint8)


def to_rgb(frames: np.ndarray, palette: np.ndarray | None) -> np.ndarray:
    """RGB of palette-index frames (with their palette), or a copy of RGB frames (None)."""
    if palette is not None:
        return np.take(palette, frames, axis=0)
    return frames.copy()


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
    # Every tap gathered at once, tap-major so each tap's plane is contiguous: the sums below
    # still add the taps one at a time, in order, in float32, as OpenCV does (a matrix
    # product would sum in another order and round some pixels the other way).
    across_taps = images[:, :, x_index.T].astype(np.float32)  # (N, H, taps, width)
    across_taps *= x_weight.T
    across = across_taps[:, :, 0]
    for j in range(1, x_index.shape[1]):  # horizontal pass first, as OpenCV
        across += across_taps[:, :, j]
    down_taps = across[:, y_index.T, :]  # (N, taps, height, width)
    down_taps *= y_weight.T[:, :, None]
    out = down_taps[:, 0]
    for j in range(1, y_index.shape[1]):
        out += down_taps[:, j]
    return np.rint(out).clip(0, 255).astype(np.uint8)


# --- the Atari preprocessing ---------------------------------------------------------------


class MaxPool:
    """AtariPreprocessing's two screen buffers, fed one grayscale frame per emulator step.

    A group of ``frame_skip`` steps ends with the max of the frames after its last two steps
    (the wrapper's ``obs_buffer``, pooled in place into the newer one). A step that ends the
    episode ends its group early, and then the buffers keep what they held, as in the wrapper.
    """

    def __init__(self, frame_skip: int = FRAME_SKIP) -> None:
        self.frame_skip = frame_skip
        self.newest = np.zeros(0, np.uint8)  # obs_buffer[0]
        self.older = np.zeros(0, np.uint8)  # obs_buffer[1]
        self.position = 0  # steps taken in the current group

    def reset(self, gray: np.ndarray) -> np.ndarray:
        """The episode's first frame; returns the reset observation's pooled frame."""
        self.newest = gray.copy()
        self.older = np.zeros_like(self.newest)
        self.position = 0
        return self.newest.copy()

    @property
    def needs_frame(self) -> bool:
        """Whether the next step's frame is read (only the last two of a group are): a frame
        the pool will not read may be pushed as None, and need not be made at all."""
        return self.position >= self.frame_skip - 2

    def push(self, gray: np.ndarray | None, *, ended: bool = False) -> np.ndarray | None:
        """The frame after one more step; the pooled frame (a new array) when it ends a group."""
        position = self.position
        if not ended and self.needs_frame:
            if gray is None:
                raise ValueError("this step's frame is pooled: push it")
            if position == self.frame_skip - 2:
                self.older = gray.copy()
            elif position == self.frame_skip - 1:
                np.copyto(self.newest, gray)
        if not ended and position < self.frame_skip - 1:
            self.position += 1
            return None
        self.position = 0
        np.maximum(self.newest, self.older, out=self.newest)
        return self.newest.copy()


class AtariFrames:
    """The standard Atari observation, made frame by frame: ``MaxPool``, 84 x 84, stack of 4.

    ``observation`` changes once every ``frame_skip`` frames (when a group ends); a policy that
    acts every 4 frames from the episode's start sees exactly what the wrappers would give it.
    """

    def __init__(self, frame_skip: int = FRAME_SKIP) -> None:
        self.pool = MaxPool(frame_skip)
        self.stack = np.zeros((STACK, SCREEN_SIZE, SCREEN_SIZE), np.uint8)

    def reset(self, gray: np.ndarray) -> None:
        """The episode's first frame: the stack is padded with it (padding_type="reset")."""
        self.stack[:] = self._small(self.pool.reset(gray))

    def push(self, gray: np.ndarray | None, *, ended: bool = False) -> bool:
        """The frame after one more step (None when ``pool.needs_frame`` is false); whether
        it made a new observation."""
        pooled = self.pool.push(gray, ended=ended)
        if pooled is None:
            return False
        self.add(pooled)
        return True

    def add(self, pooled: np.ndarray) -> None:
        """A group's pooled frame, resized onto the stack (the oldest frame goes)."""
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = self._small(pooled)

    @property
    def observation(self) -> np.ndarray:
        return self.stack.copy()

    @staticmethod
    def _small(gray: np.ndarray) -> np.ndarray:
        return area_resize(gray[None], (SCREEN_SIZE, SCREEN_SIZE))[0]


# --- observing a running machine -------------------------------------------------------------


class Colours(Protocol):
    """A machine's palette (machines.Palette; not imported: that module brings the codec)."""

    @property
    def rgb(self) -> np.ndarray: ...  # 256 x 3, index -> RGB


class Screen(Protocol):
    """What a live observation is made of: a machine (AtariMachine, GymMachine) after a step,
    once its ``new_colours()`` has been called (the palette then names every pixel's colour).
    RAM comes from its ``ale`` (ale-py's or multi-agent-ale-py's interface), when it has one."""

    @property
    def frame(self) -> np.ndarray: ...  # palette indices (H, W), or RGB (H, W, 3)

    @property
    def palette(self) -> Colours | None: ...


def _palette(screen: Screen) -> np.ndarray | None:
    return screen.palette.rgb if screen.palette is not None else None


def screen_rgb(screen: Screen) -> np.ndarray:
    return to_rgb(screen.frame, _palette(screen))


def screen_grayscale(screen: Screen) -> np.ndarray:
    return to_grayscale(screen.frame, _palette(screen))


def screen_ram(screen: Screen) -> np.ndarray:
    ale: Any = getattr(screen, "ale", None)
    if ale is None:
        raise ObservationUnavailable("RAM observations need an Atari (ALE) game")
    ram = np.asarray(ale.getRAM(), np.uint8)
    return ram.copy()


# What a decision observes, made when called: on the decision's thread, not on the tick.
Later = Callable[[], np.ndarray]


@dataclass(frozen=True, slots=True)
class Pooled:
    """What one entry of the Atari stack is made of, as the tick copied it: the episode's first
    frame (``reset``), or a group's last two frames (pooled by their max, as ``MaxPool``
    pools a group the episode does not end), with the palette after the last of them (a
    palette only gains colours, so it names the earlier frame's too; None: RGB frames)."""

    frames: tuple[np.ndarray, ...]
    palette: np.ndarray | None
    reset: bool

    def apply(self, frames: AtariFrames) -> None:
        grays = [to_grayscale(frame, self.palette) for frame in self.frames]
        if self.reset:
            frames.reset(grays[0])
        else:
            frames.add(np.maximum(grays[0], grays[1]))


class Stacked:
    """An Atari observation made later: the entries pooled since the last one, applied in
    order to the observer's stack. Laters of one observer must be called one at a time, in
    the order they were made (a seat's decisions are: ``games.engine.deciding``)."""

    __slots__ = ("entries", "frames")

    def __init__(self, frames: AtariFrames, entries: tuple[Pooled, ...]) -> None:
        self.frames = frames
        self.entries = entries

    def __call__(self) -> np.ndarray:
        for entry in self.entries:
            entry.apply(self.frames)
        return self.frames.observation


class Converted:
    """A grayscale or RGB observation made later, of a copy of the frame and its palette."""

    __slots__ = ("convert", "frame", "palette")

    def __init__(
        self,
        frame: np.ndarray,
        palette: np.ndarray | None,
        convert: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
    ) -> None:
        self.frame, self.palette, self.convert = frame, palette, convert

    def __call__(self) -> np.ndarray:
        return self.convert(self.frame, self.palette)


class Ready:
    """An observation made on the tick (RAM: 128 bytes, nothing to defer)."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def __call__(self) -> np.ndarray:
        return self.value


class Observer:
    """Makes one kind of observation of a running game. ``see`` every frame on the tick,
    ``later`` when a decision is due: what the decision observes, made when it is called (on
    the decision's thread); ``observation`` makes it at once.

    The tick's share is copying: for the Atari preprocessing, the raw frames each group pools
    (the last two of every 4, palette indices) and the palette; grayscale, max-pool, resize and
    stack are the later's. Entries wait on the tick until a later takes them, so a decision
    that is not made (the one before still running) loses none: the next later applies them
    all, in order. Only the last ``STACK`` are kept: a reset fills the whole stack, and four
    groups replace all of it, so older entries could not change the observation.
    """

    def __init__(self, name: str) -> None:
        if name not in POLICY_OBSERVATIONS:
            raise ObservationUnavailable(
                f"unknown observation {name!r}: a policy observes one of {POLICY_OBSERVATIONS}"
            )
        self.name = name
        # Touched only by this observer's laters (on the decision's thread), in order.
        self.atari = AtariFrames() if name == "atari" else None
        self.pending: deque[Pooled] = deque(maxlen=STACK)
        self.position = 0  # frames seen in the current group
        self.first: np.ndarray | None = None  # the group's next-to-last frame, copied
        self.started = False

    def reset(self) -> None:
        """A new episode: the next frame seen is its first; nothing of the last is kept."""
        self.started = False
        self.pending.clear()
        self.first = None

    def see(self, screen: Screen) -> None:
        if self.atari is not None:
            self._copy_pooled(screen)
        self.started = True

    def _copy_pooled(self, screen: Screen) -> None:
        # The pool reads only the last two frames of a group: the others are not copied.
        if not self.started:
            self.pending.append(Pooled((screen.frame.copy(),), _palette_copy(screen), True))
            self.position = 0
            return
        position = self.position
        if position == FRAME_SKIP - 2:
            self.first = screen.frame.copy()
        elif position == FRAME_SKIP - 1:
            assert self.first is not None
            frames = (self.first, screen.frame.copy())
            self.pending.append(Pooled(frames, _palette_copy(screen), False))
            self.first = None
        self.position = (position + 1) % FRAME_SKIP

    def later(self, screen: Screen) -> Later:
        """The observation of the frame seen last, to be made by calling the result."""
        if self.atari is not None:
            entries = tuple(self.pending)
            self.pending.clear()
            return Stacked(self.atari, entries)
        if self.name == "ram":
            return Ready(screen_ram(screen))
        convert = to_grayscale if self.name == "grayscale" else to_rgb
        return Converted(screen.frame.copy(), _palette_copy(screen), convert)

    def observation(self, screen: Screen) -> np.ndarray:
        return self.later(screen)()


def _palette_copy(screen: Screen) -> np.ndarray | None:
    # The machine adds colours to its palette in place as they appear: a later gets its own.
    return screen.palette.rgb.copy() if screen.palette is not None else None
