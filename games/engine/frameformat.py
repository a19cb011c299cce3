"""The binary frame format: a fixed 32-byte little-endian header, then a zlib stream.

Part of the engine (the codec writes it, replay and the benches read it) and of the socket
protocol (``docs/protocol.md`` gives the layout; the play page decodes it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

KIND_KEYFRAME = 1
KIND_DELTA = 2

PIXELS_INDEXED = 0  # one byte per pixel, an index into the episode's palette
PIXELS_RGB = 1  # three bytes per pixel

FLAG_TERMINATED = 1
FLAG_TRUNCATED = 2
FLAG_EPISODE_OVER = 4

# kind, pixel format, width, height, flags, frame, input seq, base frame, score, lives, pad
FRAME_HEADER = struct.Struct("<BBHHHIIIdhH")
assert FRAME_HEADER.size == 32


@dataclass(frozen=True, slots=True)
class FrameHeader:
    kind: int
    pixel_format: int
    width: int
    height: int
    flags: int
    frame: int  # index of this frame in the episode; 0 is the frame after reset
    input_seq: int  # the last input message's seq that had taken effect at this frame
    base_frame: int  # for a delta, the frame it is XOR-ed against; for a keyframe, itself
    score: float  # the episode's return so far
    lives: int

    def pack(self) -> bytes:
        return FRAME_HEADER.pack(
            self.kind,
            self.pixel_format,
            self.width,
            self.height,
            self.flags,
            self.frame,
            self.input_seq,
            self.base_frame,
            self.score,
            self.lives,
            0,
        )

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> FrameHeader:
        fields = FRAME_HEADER.unpack_from(data)
        return cls(*fields[:10])
