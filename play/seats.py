"""Seats: who chooses the action at one of a match's player slots.

A seat owns its input state (the action in effect and the stamps of the input that chose it),
so a match steps with the joint action of its seats and records each seat's stamps. Today's
seat is a person's keys (``HumanSeat``); an AI policy, an API agent or a sandboxed submission
is another kind of seat, not another loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from games.engine.keymap import KeyMap
from recording.recorder import InputStamp

from . import protocol as p


@dataclass(frozen=True, slots=True)
class Took:
    """What an input message did to its seat."""

    changed: bool  # the action in effect is another one now
    pressed: bool  # a key went down or up (the set of held keys changed)


class HumanSeat:
    """A person's keys at a seat: the key map, the action in effect, and the input's stamps."""

    def __init__(self, keymap: KeyMap, *, default_action: int) -> None:
        self.keymap = keymap
        self.default_action = default_action
        self.action = default_action
        self.stamp = InputStamp()
        self._held: list[str] = []
        self._last_seq = -1

    def reset(self) -> None:
        """Nothing held: a new episode, or the socket that held the keys went."""
        self.action = self.default_action
        self.stamp = InputStamp()
        self._held = []
        self._last_seq = -1

    def on_input(self, msg: p.InputMessage) -> Took:
        """The keys held now (``docs/protocol.md``, ``input``); ProtocolError if out of order."""
        if msg["seq"] <= self._last_seq:
            raise p.ProtocolError("bad_field", "'seq' must increase with every input message.")
        self._last_seq = msg["seq"]
        previous = self.action
        self.action = self.keymap.action_for(msg["keys"])
        self.stamp = InputStamp(
            seq=msg["seq"],
            client_frame=msg["frame"],
            t_shown=msg["t_shown"],
            t_key=msg["t_key"],
            t_received=time.time(),
            keys=tuple(msg["keys"]),
        )
        took = Took(
            changed=self.action != previous,
            pressed=self.action != previous or set(msg["keys"]) != set(self._held),
        )
        self._held = list(msg["keys"])
        return took
