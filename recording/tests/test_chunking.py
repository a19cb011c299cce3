"""Recording an episode into chunk files and reading it back, frame for frame."""

from __future__ import annotations

import functools
import itertools
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import zstandard

from games.engine import codec
from games.engine.machines import AtariMachine, GymMachine, Machine
from recording import chunkfile, stepcolumns
from recording.chunkfile import ChunkData, ChunkHeader
from recording.recorder import STEP_FIELDS, InputStamp, Recorder

ATARI_KWARGS = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
PICKDROP, LEFT, RIGHT = 3, 1, 2  # Tower of Hanoi's actions


@dataclass
class Recording:
    """What was played (frames, steps) and what the recorder cut from it."""

    frames: list[np.ndarray] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[ChunkData] = field(default_factory=list)

    @functools.cached_property
    def blobs(self) -> list[bytes]:
        return [chunkfile.encode(chunk) for chunk in self.chunks]


def stamp_for(step: int) -> InputStamp:
    """A distinct input stamp per step, as a player pressing keys now and then would send."""
    if step < 3:
        return InputStamp()  # before the first input message
    return InputStamp(
        seq=step // 3,
        client_frame=step - 2,
        t_shown=5000.125 + step * 16.6,
        t_key=5008.5 + step * 16.6,
        t_received=1_760_000_000.25 + step / 60,
        keys=(("ArrowLeft", "ArrowRight"), (), ("Space",))[step // 3 % 3],
    )


def record(
    machine: Machine,
    actions: list[int],
    *,
    chunk_steps: int,
    keyframe_every: int = 10,
    seed: int = 1,
    with_words: bool = True,
) -> Recording:
    """Play ``actions`` and record them the way the live session does.

    The live session hands the recorder each frame's changed words (``with_words``); without
    them the recorder finds them itself.
    """
    played = Recording()
    recorder = Recorder(
        episode="episode-1",
        pixel_format=machine.pixel_format,
        chunk_steps=chunk_steps,
        keyframe_every=keyframe_every,
    )
    colours = machine.start(seed, None)
    recorder.reset(machine.frame)
    played.frames.append(machine.frame.copy())
    if machine.palette is not None:
        recorder.add_colours(machine.palette.entries(colours))
    for step, action in enumerate(actions):
        outcome = machine.step(action)
        colours = machine.new_colours()
        if colours and machine.palette is not None:
            recorder.add_colours(machine.palette.entries(colours))
        fields: dict[str, Any] = {
            "action": action,
            "reward": outcome.reward,
            "terminated": outcome.terminated,
            "truncated": outcome.truncated,
            "info": outcome.info,
            "stamp": stamp_for(step),
            "t_step": 1_760_000_000.5 + step / 60,
        }
        assert machine.diff is not None
        words = codec.sparse(machine.diff, machine.changed) if with_words else None
        recorder.step(**fields, frame=machine.frame, words=words)
        if step % 4:  # every fourth frame dropped by flow control, as the live loop marks it
            fields["t_sent"] = fields["t_step"] + 0.0015
            recorder.sent(fields["t_sent"])
        played.frames.append(machine.frame.copy())
        played.steps.append(fields)
        if recorder.pending_steps >= chunk_steps:
            chunk = recorder.cut()
            assert chunk is not None
            played.chunks.append(chunk)
        if outcome.terminated or outcome.truncated:
            break
    final = recorder.cut(final=True)
    assert final is not None
    played.chunks.append(final)
    return played


def decode_all(blobs: list[bytes]) -> tuple[list[ChunkHeader], np.ndarray]:
    """Every chunk in order, each continuing from the last frame of the one before."""
    headers, frames = [], []
    previous = None
    for blob in blobs:
        header, chunk_frames = chunkfile.decode(blob, previous)
        headers.append(header)
        frames.append(chunk_frames)
        previous = chunk_frames[-1]
    return headers, np.concatenate(frames)


def atari_actions(n_actions: int, steps: int, seed: int = 4) -> list[int]:
    return [int(a) for a in np.random.default_rng(seed).integers(n_actions, size=steps)]


def hanoi_solution(n_disks: int) -> list[int]:
    """Keys that solve the tower: walk the cursor to each source and target peg, pick, drop."""

    def moves(n: int, src: int, dst: int, via: int) -> list[tuple[int, int]]:
        if n == 0:
            return []
        return [*moves(n - 1, src, via, dst), (src, dst), *moves(n - 1, via, dst, src)]

    actions, cursor = [], 0
    for src, dst in moves(n_disks, 0, 2, 1):
        for peg in (src, dst):
            while cursor != peg:
                actions.append(RIGHT if peg > cursor else LEFT)
                cursor += 1 if peg > cursor else -1
            actions.append(PICKDROP)
    return actions


@pytest.fixture(scope="module")
def seaquest() -> Recording:
    machine = AtariMachine("ALE/Seaquest-v5", ATARI_KWARGS)
    return record(machine, atari_actions(18, 250), chunk_steps=32, keyframe_every=3)


@pytest.fixture(scope="module")
def hanoi() -> Recording:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    return record(machine, hanoi_solution(4), chunk_steps=8, keyframe_every=2)


# --- frames ----------------------------------------------------------------------------------


def test_it_decodes_an_atari_episode_to_exactly_the_recorded_frames(seaquest: Recording) -> None:
    _, frames = decode_all(seaquest.blobs)

    assert frames.dtype == np.uint8
    assert frames.shape == (251, 210, 160)
    assert np.array_equal(frames, np.stack(seaquest.frames))


def test_it_records_the_same_frames_when_it_finds_the_changed_words_itself() -> None:
    machine = AtariMachine("ALE/Seaquest-v5", ATARI_KWARGS)
    actions = atari_actions(18, 120)
    played = record(machine, actions, chunk_steps=32, keyframe_every=2, with_words=False)

    _, frames = decode_all(played.blobs)

    assert np.array_equal(frames, np.stack(played.frames))
    live = record(
        AtariMachine("ALE/Seaquest-v5", ATARI_KWARGS), actions, chunk_steps=32, keyframe_every=2
    )
    assert played.blobs == live.blobs


def test_it_decodes_rgb_frames_to_exactly_the_recorded_frames(hanoi: Recording) -> None:
    _, frames = decode_all(hanoi.blobs)

    assert frames.shape == (len(hanoi.steps) + 1, 160, 240, 3)
    assert np.array_equal(frames, np.stack(hanoi.frames))


def test_it_keeps_the_terminal_frame_in_the_last_chunk(hanoi: Recording) -> None:
    assert hanoi.steps[-1]["terminated"]  # the solution really solves the tower
    headers, frames = decode_all(hanoi.blobs)

    last = headers[-1]
    assert last["final"]
    assert last["n_frames"] == last["n_steps"] + 1
    assert last["first_frame"] + last["n_frames"] == len(hanoi.steps) + 1
    assert np.array_equal(frames[-1], hanoi.frames[-1])


def test_it_numbers_chunks_back_to_back(seaquest: Recording) -> None:
    headers, _ = decode_all(seaquest.blobs)

    assert [h["index"] for h in headers] == list(range(len(headers)))
    assert [h["n_steps"] for h in headers] == [32] * 7 + [250 - 7 * 32]
    assert [h["first_frame"] for h in headers] == [32 * i for i in range(8)]
    assert [h["first_step"] for h in headers] == [32 * i for i in range(8)]
    assert [h["n_frames"] for h in headers] == [32] * 7 + [250 - 7 * 32 + 1]
    assert [h["final"] for h in headers] == [False] * 7 + [True]


def test_it_describes_the_frames_in_the_header(seaquest: Recording) -> None:
    header = chunkfile.read_header(seaquest.blobs[0])

    assert header["episode"] == "episode-1"
    assert header["pixel_format"] == "indexed"
    assert header["shape"] == [210, 160]
    assert header["dtype"] == "uint8"
    assert header["body"]["codec"] == "sparse-gaps-xor-zstd"
    assert header["body"]["index_dtype"] == "uint16"
    assert header["body"]["bytes"] < 210 * 160  # 32 frames in less than one frame's bytes


def test_it_has_a_colour_for_every_pixel_of_a_chunk(seaquest: Recording) -> None:
    previous = None
    for blob in seaquest.blobs:
        header, frames = chunkfile.decode(blob, previous)
        previous = frames[-1]
        known = {index for index, *_ in header["palette"] or []}
        assert set(np.unique(frames).tolist()) <= known, header["index"]


# --- keyframe chunks -------------------------------------------------------------------------


def test_it_makes_every_nth_chunk_a_keyframe(seaquest: Recording) -> None:
    headers = [chunkfile.read_header(blob) for blob in seaquest.blobs]

    assert [h["keyframe"] for h in headers] == [i % 3 == 0 for i in range(8)]


def test_it_decodes_a_keyframe_chunk_on_its_own(seaquest: Recording) -> None:
    blob = seaquest.blobs[3]

    header, frames = chunkfile.decode(blob)

    first = header["first_frame"]
    assert np.array_equal(frames, np.stack(seaquest.frames[first : first + header["n_frames"]]))


def test_it_needs_the_previous_last_frame_for_a_continuing_chunk(seaquest: Recording) -> None:
    with pytest.raises(ValueError, match="continues the one before; pass its last frame"):
        chunkfile.decode(seaquest.blobs[1])


def test_it_decodes_a_continuing_chunk_from_the_previous_last_frame(seaquest: Recording) -> None:
    header, frames = chunkfile.decode(seaquest.blobs[4], seaquest.frames[4 * 32 - 1])

    assert header["first_frame"] == 4 * 32
    assert np.array_equal(frames, np.stack(seaquest.frames[4 * 32 : 5 * 32]))


# --- steps -----------------------------------------------------------------------------------


def test_it_keeps_every_step_field_in_the_header(seaquest: Recording) -> None:
    headers, _ = decode_all(seaquest.blobs)
    steps = stepcolumns.empty()
    for header in headers:
        stepcolumns.extend(steps, header["steps"])
    stored = stepcolumns.by_name(steps)

    stamps = [s["stamp"] for s in seaquest.steps]
    assert stored["action"] == [s["action"] for s in seaquest.steps]
    assert stored["reward"] == [s["reward"] for s in seaquest.steps]
    assert stored["terminated"] == [s["terminated"] for s in seaquest.steps]
    assert stored["truncated"] == [s["truncated"] for s in seaquest.steps]
    assert stored["info"] == [s["info"] for s in seaquest.steps]
    assert stored["input_seq"] == [s.seq for s in stamps]
    assert stored["client_frame"] == [s.client_frame for s in stamps]
    assert stored["t_shown"] == [s.t_shown for s in stamps]
    assert stored["t_key"] == [s.t_key for s in stamps]
    assert stored["t_received"] == [s.t_received for s in stamps]
    assert stored["t_step"] == [s["t_step"] for s in seaquest.steps]
    assert stored["keys"] == [list(s.keys) for s in stamps]
    assert stored["t_sent"] == [s.get("t_sent") for s in seaquest.steps]


def test_it_records_rewards_and_the_end_of_a_solved_tower(hanoi: Recording) -> None:
    headers, _ = decode_all(hanoi.blobs)
    rewards = [r for h in headers for r in h["steps"]["reward"]]
    terminated = [t for h in headers for t in h["steps"]["terminated"]]

    assert rewards[-1] == 1.0
    assert terminated == [False] * (len(hanoi.steps) - 1) + [True]
    assert [i for h in headers for i in h["steps"]["info"]][-1] == {
        "moves": 15,
        "illegal": False,
        "best_moves": 15,  # the solving step says the fewest moves possible
    }


def test_it_cuts_a_final_chunk_holding_only_the_terminal_frame() -> None:
    machine = AtariMachine("ALE/Pong-v5", ATARI_KWARGS)
    played = record(machine, atari_actions(6, 40), chunk_steps=20)
    assert played.chunks[-2].header["n_steps"] == 20  # the last step filled a chunk

    headers, frames = decode_all(played.blobs)

    last = headers[-1]
    assert (last["n_steps"], last["n_frames"], last["first_frame"]) == (0, 1, 40)
    assert all(not values for values in last["steps"].values())
    assert np.array_equal(frames, np.stack(played.frames))


def test_it_cuts_nothing_before_the_end_when_no_step_is_pending() -> None:
    recorder = Recorder(episode="episode-1", pixel_format="indexed", chunk_steps=10)
    recorder.reset(np.zeros((210, 160), np.uint8))

    assert recorder.cut() is None
    assert recorder.chunks_cut == 0


def test_it_counts_steps_and_return() -> None:
    recorder = Recorder(episode="episode-1", pixel_format="indexed", chunk_steps=10)
    recorder.reset(np.zeros((2, 2), np.uint8))
    for reward in (1.0, 0.0, -0.5, 2.25):
        recorder.step(
            action=0,
            reward=reward,
            terminated=False,
            truncated=False,
            info={},
            stamp=InputStamp(),
            t_step=0.0,
            frame=np.zeros((2, 2), np.uint8),
        )

    assert recorder.steps == 4
    assert recorder.total_return == 2.75
    assert recorder.pending_steps == 4


def test_it_copies_frames_so_a_reused_buffer_cannot_change_the_recording() -> None:
    # AtariMachine writes every frame into the same array.
    recorder = Recorder(episode="episode-1", pixel_format="indexed", chunk_steps=10)
    buffer = np.zeros((2, 2), np.uint8)
    recorder.reset(buffer)
    buffer[:] = 7
    recorder.step(
        action=0,
        reward=0.0,
        terminated=True,
        truncated=False,
        info={},
        stamp=InputStamp(),
        t_step=0.0,
        frame=buffer,
    )
    buffer[:] = 9

    chunk = recorder.cut(final=True)

    assert chunk is not None
    _, frames = chunkfile.decode(chunkfile.encode(chunk))
    assert frames[:, 0, 0].tolist() == [0, 7]


# --- the file format -------------------------------------------------------------------------


def test_it_reads_every_key_of_the_typed_header(seaquest: Recording) -> None:
    header = chunkfile.read_header(seaquest.blobs[0])

    assert tuple(header) == chunkfile.HEADER_KEYS
    assert tuple(header["body"]) == tuple(chunkfile.Body.__annotations__)
    assert tuple(header["steps"]) == STEP_FIELDS


def test_it_refuses_a_blob_that_is_not_a_chunk(seaquest: Recording) -> None:
    blob = b"NOTCHUNK" + seaquest.blobs[0][8:]

    with pytest.raises(ValueError, match=r"not an Arcade chunk \(bad magic\)"):
        chunkfile.read_header(blob)
    with pytest.raises(ValueError, match="bad magic"):
        chunkfile.decode(blob)


def test_it_refuses_a_body_that_does_not_match_its_header(seaquest: Recording) -> None:
    header = chunkfile.read_header(seaquest.blobs[0])
    prefix = seaquest.blobs[0][: len(seaquest.blobs[0]) - header["body"]["bytes"]]
    cut_short = prefix + zstandard.ZstdCompressor().compress(b"\0" * 1000)

    with pytest.raises(ValueError, match="shorter than its header says"):
        chunkfile.decode(cut_short)


def test_it_refuses_to_write_a_header_whose_columns_do_not_hold_its_steps() -> None:
    recorder = Recorder(episode="e", pixel_format="indexed", chunk_steps=10)
    recorder.reset(np.zeros((2, 8), np.uint8))
    chunk = recorder.cut(final=True)
    assert chunk is not None
    chunk.header["n_steps"] = 1

    with pytest.raises(ValueError, match="do not hold its 1 steps"):
        chunkfile.encode(chunk)


def test_it_stores_the_palette_as_a_mask_and_colours() -> None:
    entries = [[0, 0, 0, 0], [14, 236, 236, 236], [255, 1, 2, 3]]
    recorder = Recorder(episode="e", pixel_format="indexed", chunk_steps=10, palette=entries)
    recorder.reset(np.zeros((2, 8), np.uint8))
    chunk = recorder.cut(final=True)
    assert chunk is not None
    without = chunkfile.encode(
        ChunkData({**chunk.header, "palette": None}, (2, 8), chunk.first, [])
    )

    blob = chunkfile.encode(chunk)

    assert chunkfile.read_header(blob)["palette"] == entries
    assert chunkfile.read_header(without)["palette"] is None


def old_header(n_steps: int, n_frames: int, shape: list[int], body: dict[str, Any]) -> Any:
    """A header as formats 2 and 3 wrote it: every field, the steps' 11 columns as JSON lists."""
    steps: dict[str, list[Any]] = {name: [None] * n_steps for name in STEP_FIELDS[:11]}
    steps |= {"action": list(range(n_steps)), "reward": [0.5] * n_steps}
    return {
        "episode": "e",
        "index": 0,
        "first_frame": 0,
        "first_step": 0,
        "n_steps": n_steps,
        "final": n_frames > n_steps,
        "pixel_format": "indexed",
        "palette": [[1, 2, 3, 4]],
        "steps": steps,
        "keyframe": True,
        "n_frames": n_frames,
        "shape": shape,
        "dtype": "uint8",
        "body": body,
    }


def test_it_still_reads_format_2_chunks() -> None:
    frames = np.random.default_rng(3).integers(0, 4, (5, 6, 8), dtype=np.uint8)
    deltas = frames.copy()
    np.bitwise_xor(deltas[1:], frames[:-1], out=deltas[1:])
    body = zstandard.ZstdCompressor().compress(deltas.tobytes())
    header = old_header(4, 5, [6, 8], {"codec": "xor-zstd", "bytes": len(body)})
    raw = zstandard.ZstdCompressor().compress(json.dumps(header).encode())
    blob = struct.pack("<8sII", b"ARCADECH", 2, len(raw)) + raw + body

    read, decoded = chunkfile.decode(blob)

    assert np.array_equal(decoded, frames)
    assert read["steps"]["action"] == [0, 1, 2, 3]
    assert read["steps"]["keys"] == [None] * 4  # format 5's columns read as null
    assert read["body"] == {"codec": "xor-zstd", "bytes": len(body), "index_dtype": ""}


def test_it_still_reads_format_3_chunks() -> None:
    """Format 3 kept the step columns as JSON in the header and the word indices as they are."""
    frames = np.random.default_rng(4).integers(0, 4, (3, 4, 8), dtype=np.uint8)
    deltas = [codec.sparse(np.bitwise_xor(b, a)) for a, b in itertools.pairwise(frames)]
    body = b"".join(
        [
            frames[0].tobytes(),
            np.array([i.size for i, _ in deltas], np.uint32).tobytes(),
            *(i.astype(np.uint16).tobytes() for i, _ in deltas),
            *(w.tobytes() for _, w in deltas),
        ]
    )
    packed = zstandard.ZstdCompressor().compress(body)
    codec_ = {"codec": "sparse-xor-zstd", "bytes": len(packed), "index_dtype": "uint16"}
    header = old_header(2, 3, [4, 8], codec_)
    raw = zstandard.ZstdCompressor().compress(json.dumps(header).encode())
    blob = struct.pack("<8sII", b"ARCADECH", 3, len(raw)) + raw + packed

    read, decoded = chunkfile.decode(blob)

    assert np.array_equal(decoded, frames)
    newer = {name: [None] * 2 for name in STEP_FIELDS[11:]}
    assert read["steps"] == {**header["steps"], **newer}
    assert read["palette"] == [[1, 2, 3, 4]]


@pytest.mark.parametrize("key", ["episode", "n_steps", "steps", "body"])
def test_it_refuses_a_json_header_that_lacks_a_field(key: str) -> None:
    header = old_header(1, 2, [1, 8], {"codec": "xor-zstd", "bytes": 0})
    del header[key]
    raw = zstandard.ZstdCompressor().compress(json.dumps(header).encode())
    blob = struct.pack("<8sII", b"ARCADECH", 3, len(raw)) + raw

    with pytest.raises(ValueError, match=f"the chunk header lacks {key}"):
        chunkfile.read_header(blob)


def test_it_refuses_old_step_columns_of_the_wrong_length() -> None:
    header = old_header(3, 4, [1, 8], {"codec": "xor-zstd", "bytes": 0})
    header["steps"]["reward"].pop()
    raw = zstandard.ZstdCompressor().compress(json.dumps(header).encode())
    blob = struct.pack("<8sII", b"ARCADECH", 3, len(raw)) + raw

    with pytest.raises(ValueError, match="'reward' does not hold 3 values"):
        chunkfile.read_header(blob)


def test_it_refuses_a_chunk_format_it_does_not_know(seaquest: Recording) -> None:
    blob = seaquest.blobs[0]
    newer = blob[:8] + struct.pack("<I", chunkfile.FORMAT + 1) + blob[12:]

    with pytest.raises(ValueError, match=f"chunk format {chunkfile.FORMAT + 1} is not supported"):
        chunkfile.read_header(newer)
    with pytest.raises(ValueError, match=f"this reader knows {chunkfile.FORMAT}"):
        chunkfile.decode(newer)


def as_older_format(blob: bytes, version: int) -> bytes:
    """``blob`` (the newest format) as chunk format ``version`` wrote it: the same fields,
    palette and body, and only the step columns that format had."""
    _, _, length = struct.unpack_from("<8sII", blob)
    raw = zstandard.ZstdDecompressor().decompress(blob[16 : 16 + length])
    n_fields, n_palette = struct.unpack_from("<II", raw)
    columns = raw[8 + n_fields + n_palette :]
    n_now, n_then = len(stepcolumns.TYPES), len(stepcolumns.FORMAT_COLUMNS[version])
    directory = [struct.unpack_from("<BI", columns, 5 * i) for i in range(n_now)]
    data = columns[5 * n_now :][: sum(n for _, n in directory[:n_then])]
    old = zstandard.ZstdCompressor().compress(
        raw[: 8 + n_fields + n_palette] + columns[: 5 * n_then] + data
    )
    return struct.pack("<8sII", b"ARCADECH", version, len(old)) + old + blob[16 + length :]


@pytest.mark.parametrize("version", [4, 5])
def test_it_still_reads_format_4_and_5_chunks(seaquest: Recording, version: int) -> None:
    """Format 4 had no held keys and no send times, format 5 no per-seat columns: those read
    as null, the rest as stored."""
    blob = seaquest.blobs[1]

    header, frames = chunkfile.decode(as_older_format(blob, version), seaquest.frames[31])
    newer, newer_frames = chunkfile.decode(blob, seaquest.frames[31])

    assert np.array_equal(frames, newer_frames)
    older, newest = stepcolumns.by_name(header["steps"]), stepcolumns.by_name(newer["steps"])
    kept = stepcolumns.FORMAT_COLUMNS[version]
    for name in STEP_FIELDS:
        if name in kept:
            assert older[name] == newest[name], name
        else:
            assert older[name] == [None] * header["n_steps"], name


def test_a_multi_seat_step_records_each_seats_values_as_given_when_they_repeat_or_change() -> None:
    from recording.recorder import SeatsRecord

    recorder = Recorder(episode="episode-1", pixel_format="indexed", chunk_steps=10)
    recorder.reset(np.zeros((2, 2), np.uint8))
    held = InputStamp(seq=3, keys=("ArrowUp",))
    pressed = InputStamp(seq=4, keys=())
    given = [
        ((2, 3), (0.0, 0.0), (held, InputStamp()), ("user:1", "policy:2"), (True, False)),
        ((2, 3), (0.0, -0.0), (held, InputStamp()), ("user:1", "policy:2"), (True, True)),
        ((2, 1), (1.0, -1.0), (pressed, InputStamp()), ("user:1", "vacant"), (True, False)),
        ((2, 1), (1.0, -1.0), (pressed, InputStamp()), ("user:1", "vacant"), (True, False)),
    ]
    for actions, rewards, stamps, holders, fresh in given:
        recorder.step(
            action=actions[0],
            reward=rewards[0],
            terminated=False,
            truncated=False,
            info={},
            stamp=stamps[0],
            t_step=0.0,
            frame=np.zeros((2, 2), np.uint8),
            seats=SeatsRecord(actions, rewards, stamps, holders, fresh),
        )
    chunk = recorder.cut(final=True)
    assert chunk is not None
    steps = stepcolumns.by_name(chunkfile.read_header(chunkfile.encode(chunk))["steps"])
    assert steps["seat_actions"] == [list(g[0]) for g in given]
    assert [json.dumps(r) for r in steps["seat_rewards"]] == [
        "[0.0, 0.0]",
        "[0.0, -0.0]",
        "[1.0, -1.0]",
        "[1.0, -1.0]",
    ]
    assert [[s["seq"] for s in row] for row in steps["seat_stamps"]] == [
        [3, 0],
        [3, 0],
        [4, 0],
        [4, 0],
    ]
    assert steps["seat_stamps"][0][0]["keys"] == ["ArrowUp"]
    assert steps["seat_holders"] == [list(g[3]) for g in given]
    assert steps["seat_fresh"] == [list(g[4]) for g in given]
