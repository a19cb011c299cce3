"""The browser's frame decoder (static/js/frame-decoder.js), run by Node on real frames.

What the server encodes, the page's own decoding code must turn back into exactly the same
pixels: keyframes, sparse deltas, indexed and RGB frames.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from games.catalogue import ATARI_KWARGS
from games.engine import codec
from games.engine.machines import AtariMachine, GymMachine, Machine
from play.protocol import KIND_DELTA, KIND_KEYFRAME, PIXELS_INDEXED, PIXELS_RGB, FrameHeader

ROOT = Path(__file__).resolve().parents[2]
DECODE = """
const fs = require("fs");
const crypto = require("crypto");
const Frames = require(process.argv[2]);
(async () => {
  const dir = process.argv[3];
  const names = fs.readdirSync(dir).filter((n) => n.endsWith(".bin")).sort();
  let held = null;
  for (const name of names) {
    const data = new Uint8Array(fs.readFileSync(dir + "/" + name));
    const header = Frames.parseHeader(data);
    const pixels = await Frames.decodePayload(data, header);
    if (header.kind === Frames.KIND_KEYFRAME) held = pixels;
    else Frames.applyDelta(held, pixels);
    console.log(crypto.createHash("sha1").update(held).digest("hex"));
  }
})();
"""


def messages(machine: Machine, pixel_format: int, steps: int, tmp: Path) -> list[str]:
    """Write a keyframe and then a delta per step; return the hash of every frame."""
    hashes = []
    for number in range(steps + 1):
        if number:
            machine.step((number // 7) % len(machine.action_meanings))
        frame = machine.frame
        kind = KIND_KEYFRAME if number in (0, steps // 2) else KIND_DELTA
        assert kind == KIND_KEYFRAME or machine.diff is not None
        payload = codec.keyframe(frame) if kind == KIND_KEYFRAME else codec.delta(machine.diff)  # type: ignore[arg-type]
        header = FrameHeader(
            kind=kind,
            pixel_format=pixel_format,
            width=frame.shape[1],
            height=frame.shape[0],
            flags=0,
            frame=number,
            input_seq=0,
            base_frame=number if kind == KIND_KEYFRAME else number - 1,
            score=0.0,
            lives=0,
        )
        (tmp / f"{number:05d}.bin").write_bytes(header.pack() + payload)
        hashes.append(hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest())
    return hashes


def decode_with_node(tmp: Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing; the Python machine image ships Node.js for this test.")
    script = tmp / "decode.js"
    script.write_text(DECODE)
    result = subprocess.run(
        [node, str(script), str(ROOT / "static/js/frame-decoder.js"), str(tmp)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()


@pytest.mark.parametrize("env_id", ["ALE/Pong-v5", "ALE/MsPacman-v5", "ALE/Enduro-v5"])
def test_it_decodes_atari_frames_in_the_browser_exactly(env_id: str, tmp_path: Path) -> None:
    machine = AtariMachine(env_id, dict(ATARI_KWARGS))
    machine.start(3, None)
    expected = messages(machine, PIXELS_INDEXED, 240, tmp_path)
    assert decode_with_node(tmp_path) == expected


def test_it_decodes_rgb_frames_in_the_browser_exactly(tmp_path: Path) -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    expected = messages(machine, PIXELS_RGB, 60, tmp_path)
    assert decode_with_node(tmp_path) == expected
