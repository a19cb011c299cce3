"""The wire codec over real frames: what the server encodes, the client decodes exactly."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytest

from games.engine import codec
from games.engine.codec import FrameDecoder
from games.engine.machines import AtariMachine, GymMachine
from play.protocol import (
    FLAG_EPISODE_OVER,
    FLAG_TERMINATED,
    FLAG_TRUNCATED,
    KIND_DELTA,
    KIND_KEYFRAME,
    PIXELS_INDEXED,
    PIXELS_RGB,
    FrameHeader,
)

ATARI_KWARGS = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
ATARI_GAMES = [
    "ALE/Pong-v5",
    "ALE/Breakout-v5",
    "ALE/MsPacman-v5",
    "ALE/Seaquest-v5",
    "ALE/SpaceInvaders-v5",
]


@dataclasses.dataclass(frozen=True)
class Played:
    """One episode's frames and the machine's diffs, copied as the machine produced them."""

    frames: tuple[np.ndarray, ...]  # frames[n]: the frame after step n (0: after start)
    diffs: tuple[np.ndarray | None, ...]  # diffs[n]: ``machine.diff`` after step n

    def diff(self, number: int) -> np.ndarray:
        diff = self.diffs[number]
        assert diff is not None, f"the machine gave no diff for frame {number}"
        return diff


def _played(machine: Any, *, steps: int, seed: int, hold: int) -> Played:
    """One episode played like a person: each action held for up to ``hold`` steps."""
    machine.start(seed, None)
    frames, diffs = [machine.frame.copy()], [None]
    rng = np.random.default_rng(seed)
    action, held_for = 0, 0
    for _ in range(steps):
        if held_for == 0:
            action = int(rng.integers(len(machine.action_meanings)))
            held_for = int(rng.integers(1, hold + 1))
        held_for -= 1
        outcome = machine.step(action)
        # Both are overwritten by later steps, so keep copies.
        frames.append(machine.frame.copy())
        diffs.append(None if machine.diff is None else machine.diff.copy())
        if outcome.terminated or outcome.truncated:
            break
    machine.close()
    for array in [*frames, *diffs]:
        if array is not None:
            array.flags.writeable = False  # shared between tests
    return Played(tuple(frames), tuple(diffs))


@functools.cache
def atari_episode(env_id: str) -> Played:
    return _played(AtariMachine(env_id, ATARI_KWARGS), steps=300, seed=11, hold=12)


@functools.cache
def hanoi_episode() -> Played:
    return _played(GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4}), steps=80, seed=5, hold=1)


def message(
    number: int,
    *,
    frame: np.ndarray | None = None,
    diff: np.ndarray | None = None,
    pixel_format: int = PIXELS_INDEXED,
) -> bytes:
    """Frame ``number`` as the live session sends it, from a frame or from a diff.

    A frame makes a keyframe; a diff (``machine.diff``) makes a delta on frame ``number - 1``.
    """
    if frame is not None and diff is None:
        kind, payload, base, shape = KIND_KEYFRAME, codec.keyframe(frame), number, frame.shape
    elif diff is not None and frame is None:
        kind, payload, base, shape = KIND_DELTA, codec.delta(diff), number - 1, diff.shape
    else:
        raise TypeError("pass either a frame (for a keyframe) or a diff (for a delta)")
    header = FrameHeader(
        kind=kind,
        pixel_format=pixel_format,
        width=shape[1],
        height=shape[0],
        flags=0,
        frame=number,
        input_seq=0,
        base_frame=base,
        score=0.0,
        lives=0,
    )
    return header.pack() + payload


def assert_same_frame(decoded: np.ndarray, expected: np.ndarray, number: int) -> None:
    assert decoded.dtype == np.uint8
    assert decoded.shape == expected.shape
    differing = int(np.count_nonzero(decoded != expected))
    assert differing == 0, f"frame {number} differs in {differing} pixels after decoding"


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ATARI_GAMES)
def test_it_round_trips_every_atari_frame_bit_exact(env_id: str) -> None:
    played = atari_episode(env_id)
    decoder = FrameDecoder()
    header, decoded = decoder.decode(message(0, frame=played.frames[0]))
    assert_same_frame(decoded, played.frames[0], 0)

    for number in range(1, len(played.frames)):
        header, decoded = decoder.decode(message(number, diff=played.diff(number)))

        assert (header.kind, header.frame) == (KIND_DELTA, number)
        assert_same_frame(decoded, played.frames[number], number)


def test_it_plays_atari_frames_that_change() -> None:
    # Guards the round trips above: a static screen would round-trip with a broken delta.
    for env_id in ATARI_GAMES:
        played = atari_episode(env_id)
        assert len(played.frames) > 200, env_id
        assert len({frame.tobytes() for frame in played.frames}) > 50, env_id
        changed = sum(bool(played.diff(n).any()) for n in range(1, len(played.frames)))
        assert changed > 50, env_id


def test_it_round_trips_rgb_frames_bit_exact() -> None:
    played = hanoi_episode()
    assert len({frame.tobytes() for frame in played.frames}) > 10
    decoder = FrameDecoder()
    decoder.decode(message(0, frame=played.frames[0], pixel_format=PIXELS_RGB))

    for number in range(1, len(played.frames)):
        blob = message(number, diff=played.diff(number), pixel_format=PIXELS_RGB)
        header, decoded = decoder.decode(blob)

        assert (header.width, header.height) == (240, 160)
        assert_same_frame(decoded, played.frames[number], number)


def test_it_decodes_a_keyframe_without_any_earlier_frame() -> None:
    frames = atari_episode("ALE/MsPacman-v5").frames

    _, decoded = FrameDecoder().decode(message(100, frame=frames[100]))

    assert_same_frame(decoded, frames[100], 100)


def test_it_resumes_with_a_keyframe_after_frames_that_were_not_sent() -> None:
    played = atari_episode("ALE/Breakout-v5")
    decoder = FrameDecoder()
    decoder.decode(message(0, frame=played.frames[0]))
    for number in range(1, 40):
        decoder.decode(message(number, diff=played.diff(number)))
    # Frames 40 to 59 are never sent: the client fell behind.

    _, decoded = decoder.decode(message(60, frame=played.frames[60]))
    assert_same_frame(decoded, played.frames[60], 60)
    for number in range(61, 120):
        _, decoded = decoder.decode(message(number, diff=played.diff(number)))
        assert_same_frame(decoded, played.frames[number], number)


def test_it_makes_each_delta_against_the_frame_before_whether_sent_or_not() -> None:
    played = atari_episode("ALE/SpaceInvaders-v5")
    # Frames 1 to 50 were never sent; a client that holds frame 50 (from a keyframe)
    # decodes the machine's diff of frame 51 to frame 51.
    decoder = FrameDecoder()
    decoder.decode(message(50, frame=played.frames[50]))

    _, decoded = decoder.decode(message(51, diff=played.diff(51)))

    assert_same_frame(decoded, played.frames[51], 51)


# --- refusals --------------------------------------------------------------------------------


def test_it_refuses_a_delta_against_a_frame_the_client_does_not_hold() -> None:
    played = atari_episode("ALE/Pong-v5")
    decoder = FrameDecoder()
    decoder.decode(message(0, frame=played.frames[0]))
    for number in range(1, 9):
        decoder.decode(message(number, diff=played.diff(number)))
    # Frame 9 is lost on the way.

    with pytest.raises(ValueError, match="delta on frame 9, holding 8"):
        decoder.decode(message(10, diff=played.diff(10)))


def test_it_keeps_its_frame_when_it_refuses_a_delta() -> None:
    played = atari_episode("ALE/Pong-v5")
    decoder = FrameDecoder()
    decoder.decode(message(0, frame=played.frames[0]))
    for number in range(1, 9):
        decoder.decode(message(number, diff=played.diff(number)))
    with pytest.raises(ValueError):
        decoder.decode(message(10, diff=played.diff(10)))

    assert decoder.number == 8
    assert decoder.frame is not None
    assert_same_frame(decoder.frame, played.frames[8], 8)


def test_it_refuses_a_delta_before_any_keyframe() -> None:
    played = atari_episode("ALE/Pong-v5")

    with pytest.raises(ValueError, match="delta on frame 0"):
        FrameDecoder().decode(message(1, diff=played.diff(1)))


def test_it_refuses_an_unknown_frame_kind() -> None:
    frame = atari_episode("ALE/Pong-v5").frames[0]
    blob = bytearray(message(0, frame=frame))
    blob[0] = 7

    with pytest.raises(ValueError, match="unknown frame kind 7"):
        FrameDecoder().decode(bytes(blob))


# --- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ATARI_GAMES)
def test_it_sends_small_deltas_for_atari(env_id: str) -> None:
    # A sanity bound, not a benchmark: a 210x160 keyframe is ~34 kB raw.
    played = atari_episode(env_id)

    sizes = [len(codec.delta(played.diff(n))) for n in range(1, len(played.frames))]

    assert sum(sizes) / len(sizes) < 1500


# --- the header ------------------------------------------------------------------------------

HEADER = FrameHeader(
    kind=KIND_DELTA,
    pixel_format=PIXELS_INDEXED,
    width=160,
    height=210,
    flags=FLAG_TERMINATED,
    frame=1000,
    input_seq=42,
    base_frame=999,
    score=21.0,
    lives=3,
)


def test_it_packs_a_header_into_32_bytes() -> None:
    assert len(HEADER.pack()) == 32


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", KIND_KEYFRAME),
        ("pixel_format", PIXELS_RGB),
        ("width", 65535),
        ("height", 1),
        ("flags", FLAG_TRUNCATED | FLAG_EPISODE_OVER),
        ("frame", 2**32 - 1),
        ("input_seq", 2**32 - 2),
        ("base_frame", 123_456_789),
        ("score", -20.5),
        ("score", 0.1 + 0.2),
        ("lives", -1),
        ("lives", -32768),
        ("lives", 32767),
    ],
)
def test_it_round_trips_every_header_field(field: str, value: int | float) -> None:
    header = dataclasses.replace(HEADER, **{field: value})  # type: ignore[arg-type]

    unpacked = FrameHeader.unpack(header.pack())

    assert header.pack() != HEADER.pack()  # the field is really on the wire
    assert getattr(unpacked, field) == value
    assert unpacked == header


def test_it_unpacks_a_header_from_the_front_of_a_message() -> None:
    frame = atari_episode("ALE/Pong-v5").frames[0]
    blob = message(0, frame=frame)

    header = FrameHeader.unpack(memoryview(blob))

    assert (header.kind, header.width, header.height, header.frame) == (KIND_KEYFRAME, 160, 210, 0)
