"""The wire codec over real frames: what the server encodes, the client decodes exactly."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytest

from arcade.protocol import (
    FLAG_EPISODE_OVER,
    FLAG_TERMINATED,
    FLAG_TRUNCATED,
    KIND_DELTA,
    KIND_KEYFRAME,
    PIXELS_INDEXED,
    PIXELS_RGB,
    FrameHeader,
)
from games.engine.codec import FrameDecoder, FrameEncoder
from games.engine.machines import AtariMachine, GymMachine

ATARI_KWARGS = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
ATARI_GAMES = [
    "ALE/Pong-v5",
    "ALE/Breakout-v5",
    "ALE/MsPacman-v5",
    "ALE/Seaquest-v5",
    "ALE/SpaceInvaders-v5",
]


def _played(machine: Any, *, steps: int, seed: int, hold: int) -> tuple[np.ndarray, ...]:
    """Frames of one episode played like a person: each action held for up to ``hold`` steps."""
    machine.start(seed, None)
    frames = [machine.frame.copy()]
    rng = np.random.default_rng(seed)
    action, held_for = 0, 0
    for _ in range(steps):
        if held_for == 0:
            action = int(rng.integers(len(machine.action_meanings)))
            held_for = int(rng.integers(1, hold + 1))
        held_for -= 1
        outcome = machine.step(action)
        frames.append(machine.frame.copy())
        if outcome.terminated or outcome.truncated:
            break
    machine.close()
    for frame in frames:
        frame.flags.writeable = False  # shared between tests
    return tuple(frames)


@functools.cache
def atari_frames(env_id: str) -> tuple[np.ndarray, ...]:
    return _played(AtariMachine(env_id, ATARI_KWARGS), steps=300, seed=11, hold=12)


@functools.cache
def hanoi_frames() -> tuple[np.ndarray, ...]:
    return _played(GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4}), steps=80, seed=5, hold=1)


def message(
    encoder: FrameEncoder,
    frame: np.ndarray,
    number: int,
    *,
    keyframe: bool,
    pixel_format: int = PIXELS_INDEXED,
) -> bytes:
    """A binary frame message, put together the way the live session does."""
    if keyframe:
        kind, payload, base = KIND_KEYFRAME, encoder.keyframe(frame), number
    else:
        kind, payload, base = KIND_DELTA, encoder.delta(frame), number - 1
    header = FrameHeader(
        kind=kind,
        pixel_format=pixel_format,
        width=frame.shape[1],
        height=frame.shape[0],
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
    frames = atari_frames(env_id)
    encoder, decoder = FrameEncoder(), FrameDecoder()

    for number, frame in enumerate(frames):
        header, decoded = decoder.decode(message(encoder, frame, number, keyframe=number == 0))

        assert header.frame == number
        assert_same_frame(decoded, frame, number)


def test_it_plays_atari_frames_that_change() -> None:
    # Guards the round trips above: a static screen would round-trip with a broken delta.
    for env_id in ATARI_GAMES:
        frames = atari_frames(env_id)
        assert len(frames) > 200, env_id
        assert len({frame.tobytes() for frame in frames}) > 50, env_id


def test_it_round_trips_rgb_frames_bit_exact() -> None:
    frames = hanoi_frames()
    assert len({frame.tobytes() for frame in frames}) > 10
    encoder, decoder = FrameEncoder(), FrameDecoder()

    for number, frame in enumerate(frames):
        blob = message(encoder, frame, number, keyframe=number == 0, pixel_format=PIXELS_RGB)
        header, decoded = decoder.decode(blob)

        assert (header.width, header.height) == (240, 160)
        assert_same_frame(decoded, frame, number)


def test_it_decodes_a_keyframe_without_any_earlier_frame() -> None:
    frames = atari_frames("ALE/MsPacman-v5")
    sender = FrameEncoder()
    for number in range(100):
        message(sender, frames[number], number, keyframe=number == 0)

    _, decoded = FrameDecoder().decode(message(sender, frames[100], 100, keyframe=True))

    assert_same_frame(decoded, frames[100], 100)


def test_it_resumes_with_a_keyframe_after_skipped_frames() -> None:
    frames = atari_frames("ALE/Breakout-v5")
    encoder, decoder = FrameEncoder(), FrameDecoder()
    for number in range(40):
        decoder.decode(message(encoder, frames[number], number, keyframe=number == 0))
    for number in range(40, 60):
        encoder.skip(frames[number])  # the client fell behind; these are never sent

    _, decoded = decoder.decode(message(encoder, frames[60], 60, keyframe=True))
    assert_same_frame(decoded, frames[60], 60)
    for number in range(61, 120):
        _, decoded = decoder.decode(message(encoder, frames[number], number, keyframe=False))
        assert_same_frame(decoded, frames[number], number)


def test_it_makes_the_delta_after_a_skipped_frame_against_that_frame() -> None:
    frames = atari_frames("ALE/SpaceInvaders-v5")
    encoder = FrameEncoder()
    encoder.keyframe(frames[0])
    encoder.skip(frames[50])
    after_skip = message(encoder, frames[51], 51, keyframe=False)
    # A client that holds frame 50 (from elsewhere) decodes the delta to frame 51.
    decoder = FrameDecoder()
    decoder.decode(message(FrameEncoder(), frames[50], 50, keyframe=True))

    _, decoded = decoder.decode(after_skip)

    assert_same_frame(decoded, frames[51], 51)


# --- refusals --------------------------------------------------------------------------------


def test_it_refuses_a_delta_against_a_frame_the_client_does_not_hold() -> None:
    frames = atari_frames("ALE/Pong-v5")
    encoder, decoder = FrameEncoder(), FrameDecoder()
    for number in range(9):
        decoder.decode(message(encoder, frames[number], number, keyframe=number == 0))
    message(encoder, frames[9], 9, keyframe=False)  # lost on the way
    delta_on_9 = message(encoder, frames[10], 10, keyframe=False)

    with pytest.raises(ValueError, match="delta on frame 9, holding 8"):
        decoder.decode(delta_on_9)


def test_it_keeps_its_frame_when_it_refuses_a_delta() -> None:
    frames = atari_frames("ALE/Pong-v5")
    encoder, decoder = FrameEncoder(), FrameDecoder()
    for number in range(9):
        decoder.decode(message(encoder, frames[number], number, keyframe=number == 0))
    message(encoder, frames[9], 9, keyframe=False)  # lost on the way
    with pytest.raises(ValueError):
        decoder.decode(message(encoder, frames[10], 10, keyframe=False))

    assert decoder.number == 8
    assert decoder.frame is not None
    assert_same_frame(decoder.frame, frames[8], 8)


def test_it_refuses_a_delta_before_any_keyframe() -> None:
    frames = atari_frames("ALE/Pong-v5")
    encoder = FrameEncoder()
    encoder.keyframe(frames[0])

    with pytest.raises(ValueError, match="delta on frame 0"):
        FrameDecoder().decode(message(encoder, frames[1], 1, keyframe=False))


def test_it_refuses_an_unknown_frame_kind() -> None:
    frame = atari_frames("ALE/Pong-v5")[0]
    blob = bytearray(message(FrameEncoder(), frame, 0, keyframe=True))
    blob[0] = 7

    with pytest.raises(ValueError, match="unknown frame kind 7"):
        FrameDecoder().decode(bytes(blob))


def test_it_will_not_encode_a_delta_before_a_keyframe() -> None:
    frame = atari_frames("ALE/Pong-v5")[0]

    with pytest.raises(ValueError, match="send a keyframe"):
        FrameEncoder().delta(frame)


def test_it_will_not_encode_a_delta_after_a_reset() -> None:
    frames = atari_frames("ALE/Pong-v5")
    encoder = FrameEncoder()
    encoder.keyframe(frames[0])
    encoder.reset()

    with pytest.raises(ValueError, match="send a keyframe"):
        encoder.delta(frames[1])


def test_it_will_not_encode_a_delta_across_a_change_of_shape() -> None:
    encoder = FrameEncoder()
    encoder.keyframe(atari_frames("ALE/Pong-v5")[0])

    with pytest.raises(ValueError, match="send a keyframe"):
        encoder.delta(hanoi_frames()[0])


# --- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ATARI_GAMES)
def test_it_sends_small_deltas_for_atari(env_id: str) -> None:
    # A sanity bound, not a benchmark: a 210x160 keyframe is ~34 kB raw.
    frames = atari_frames(env_id)
    encoder = FrameEncoder()
    encoder.keyframe(frames[0])

    sizes = [len(encoder.delta(frame)) for frame in frames[1:]]

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
    frame = atari_frames("ALE/Pong-v5")[0]
    blob = message(FrameEncoder(), frame, 0, keyframe=True)

    header = FrameHeader.unpack(memoryview(blob))

    assert (header.kind, header.width, header.height, header.frame) == (KIND_KEYFRAME, 160, 210, 0)
