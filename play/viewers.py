"""Viewers: one socket's screen of a match, with its own flow control and frame encoding.

A viewer sends each frame as a keyframe or a delta against the frame before (the engine's
frame format, ``games/engine/frameformat.py``), keeps at most ``window`` frames unacknowledged
and drops frames, never the game's time, when its client falls behind. Each viewer keeps its
own window, so a slow screen drops its own frames only: a player's screen today, any number of
spectators' next.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from games.engine import codec
from games.engine.codec import PIXEL_CODES
from games.engine.machines import Outcome

from . import protocol as p
from .hub import release

PROBE_EVERY = 30  # dropped frames between keyframes sent to a client that stopped acking


class FrameStats:
    """Process-wide counts for monitoring: plain integers, cheap to bump every frame."""

    sent = 0
    dropped = 0  # not sent: the client was too far behind


class Transport(Protocol):
    # False once the socket is gone, whatever the reason: nothing is stepped for nobody.
    attached: bool

    async def send_bytes(self, data: bytes) -> None: ...
    async def send_json(self, message: p.ServerMessage | dict[str, Any]) -> None: ...


class Gone:
    """The transport of a viewer whose socket is gone: nothing can be sent."""

    attached = False

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def send_json(self, message: p.ServerMessage | dict[str, Any]) -> None:
        pass


class Viewer:
    """One socket's screen: what it was sent, what it acknowledged, and its transport."""

    def __init__(self, transport: Transport, *, window: int, seat: int | None = None) -> None:
        self.transport = transport
        self.seat = seat  # the seat whose player this screen is; None: a spectator's
        self.window = window
        self._last_sent = -1
        self._last_acked = -1
        self._need_keyframe = True
        self._dropped_in_row = 0

    def from_frame(self, number: int) -> None:
        """Start (again) at frame ``number``: it goes as a keyframe, nothing before it is owed."""
        self._last_sent = self._last_acked = number - 1
        self._need_keyframe = True
        self._dropped_in_row = 0

    def on_ack(self, frame: int) -> None:
        # An ack past the last frame sent is left over from the previous episode: ignore it.
        if frame <= self._last_sent:
            self._last_acked = max(self._last_acked, frame)

    def on_keyframe_request(self) -> None:
        # The client holds nothing to ack against until the keyframe comes: reopen the window.
        self._need_keyframe = True
        self._last_acked = self._last_sent

    async def send_frame(
        self,
        *,
        number: int,
        frame: np.ndarray,
        pixel_format: str,
        outcome: Outcome,
        score: float,
        lives: int,
        input_seq: int,
        words: codec.Sparse | None = None,
    ) -> bool:
        """Send frame ``number``; False when flow control dropped it."""
        over = outcome.terminated or outcome.truncated
        if not over and number - self._last_acked > self.window:
            # The client is behind: drop this frame rather than queue it; the game keeps time.
            # Every PROBE_EVERY dropped frames a keyframe goes anyway, which the client acks:
            # without it, one lost ack would stall the stream for good.
            self._dropped_in_row += 1
            if self._dropped_in_row % PROBE_EVERY:
                self._need_keyframe = True
                FrameStats.dropped += 1
                return False
        else:
            self._dropped_in_row = 0
        if self._need_keyframe or self._last_sent != number - 1 or words is None:
            kind, payload = p.KIND_KEYFRAME, codec.keyframe(frame)
            base = number
            self._need_keyframe = False
        else:
            kind, payload = p.KIND_DELTA, codec.delta_of(words)
            base = number - 1
        flags = (
            (p.FLAG_TERMINATED if outcome.terminated else 0)
            | (p.FLAG_TRUNCATED if outcome.truncated else 0)
            | (p.FLAG_EPISODE_OVER if over else 0)
        )
        header = p.FrameHeader(
            kind=kind,
            pixel_format=PIXEL_CODES[pixel_format],
            width=frame.shape[1],
            height=frame.shape[0],
            flags=flags,
            frame=number,
            input_seq=input_seq,
            base_frame=base,
            score=score,
            lives=max(-32768, min(32767, lives)),
        )
        self._last_sent = number
        FrameStats.sent += 1
        await self.transport.send_bytes(header.pack() + payload)
        return True


class Spectators:
    """The spectators' viewers of one match: added with their own window, removed, and let
    go of (a relay to another process is closed, so its task ends)."""

    def __init__(self, match: Watched) -> None:
        self.match = match
        self.viewers: list[Viewer] = []

    async def watch(self, transport: Transport, *, window: int) -> Viewer:
        viewer = Viewer(transport, window=window)
        self.viewers.append(viewer)
        await self.match.watch(viewer)
        return viewer

    def unwatch(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
        self.match.unwatch(viewer)

    def close(self) -> None:
        for viewer in self.viewers:
            self.match.unwatch(viewer)
            release(viewer.transport)
        self.viewers = []


class Watched(Protocol):
    """What spectators watch: a match (``play.match.Match``; not imported, it imports this)."""

    async def watch(self, viewer: Viewer) -> None: ...

    def unwatch(self, viewer: Viewer) -> None: ...
