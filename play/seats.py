"""Seats: who chooses the action at one of a match's player slots.

A seat owns its input state (the action in effect and the stamps of the input that chose it),
so a match steps with the joint action of its seats and records each seat's stamps. A seat is
a person's keys (``HumanSeat``), an AI policy (``PolicySeat``) or a script (``ScriptedSeat``);
an API agent or a sandboxed submission is another kind of seat, not another loop. A seat's
place in the match can change hands mid-episode (a person leaves, a policy takes over): the
match swaps the seat object and the recording says who held it at every step (``Holder``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal, Protocol

from games.engine.deciding import Decider, Decisions
from games.engine.keymap import KeyMap
from games.engine.observations import Screen
from games.engine.policies import Policy
from recording.recorder import InputStamp, holder_of_policy, holder_of_user

from . import protocol as p

HolderKind = Literal["human", "policy", "vacant", "script", "agent"]


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a seat: a person (``user_id``), a policy (``policy_id``), nobody, a script,
    or a program through the agent API (``user_id``: its token's owner; ``name``: the agent's)."""

    kind: HolderKind
    user_id: int | None = None
    policy_id: int | None = None
    name: str = ""  # how players see them: a public name (User.public_name), a policy's

    @property
    def key(self) -> str:
        """As the recording's per-step holders name it: "user:7", "policy:3", "vacant"."""
        if self.kind in ("human", "agent"):
            # A program's seat is recorded as its token's owner's; the seat's kind from that
            # step (``EpisodeSeat``) tells the two apart, as verification and exports read it.
            return holder_of_user(self.user_id or 0)
        if self.kind == "policy":
            return holder_of_policy(self.policy_id or 0)
        return self.kind


VACANT = Holder("vacant")


class Seat(Protocol):
    holder: Holder
    stamp: InputStamp  # the input in effect (a person's); a blank stamp for others

    def reset(self, seed: int) -> None:
        """A new episode (or a new holder): nothing held, nothing pending."""

    def take(self) -> tuple[int, bool]:
        """The action to play at this step, and whether it was chosen for it (fresh)."""

    def see(self, screen: Screen) -> None:
        """The frame the last step made (and the first after start)."""


@dataclass(frozen=True, slots=True)
class Took:
    """What an input message did to its seat."""

    changed: bool  # the action in effect is another one now
    pressed: bool  # a key went down or up (the set of held keys changed)


class HumanSeat:
    """A person's keys at a seat: the key map, the action in effect, and the input's stamps."""

    def __init__(self, keymap: KeyMap, *, default_action: int, holder: Holder = VACANT) -> None:
        self.holder = holder
        self.keymap = keymap
        self.default_action = default_action
        self.action = default_action
        self.stamp = InputStamp()
        self._held: list[str] = []
        self._last_seq = -1
        self._move: int | None = None  # a turn-based game's move, kept for the next step

    def reset(self, seed: int = 0) -> None:
        """Nothing held: a new episode, or the socket that held the keys went."""
        self.action = self.default_action
        self.stamp = InputStamp()
        self._held = []
        self._last_seq = -1
        self._move = None

    def latch(self) -> None:
        """The action in effect is a move of a turn-based game: the next step plays it, even
        if the key is let go before that step is taken (a release can arrive first)."""
        self._move = self.action

    def take(self) -> tuple[int, bool]:
        if self._move is not None:
            move, self._move = self._move, None
            return move, True
        # A person's keys choose every step; an empty seat's default action is nobody's choice.
        return self.action, self.holder.kind == "human"

    def see(self, screen: Screen) -> None:
        pass  # the person sees it on their screen

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


class PolicySeat:
    """An AI policy at a seat: it sees every frame and decides on a worker thread
    (``games.engine.deciding``), so the tick never waits for an inference; a late decision
    holds the action before it."""

    def __init__(self, policy: Policy, decisions: Decisions | Executor, *, holder: Holder) -> None:
        self.holder = holder
        self.decider = Decider(policy, decisions)
        self.stamp = InputStamp()

    def reset(self, seed: int) -> None:
        self.decider.reset(seed)

    def take(self) -> tuple[int, bool]:
        return self.decider.take()

    def see(self, screen: Screen) -> None:
        self.decider.see(screen)


class ScriptedSeat:
    """A script at a seat: ``choose(step)`` gives each step's action (tests, benches,
    ``play.scripted``); ``stamp_of(step)`` the input stamp recorded with it."""

    def __init__(
        self,
        choose: Callable[[int], int],
        *,
        stamp_of: Callable[[int], InputStamp] | None = None,
        holder: Holder = Holder("script"),
    ) -> None:
        self.holder = holder
        self.choose = choose
        self.stamp_of = stamp_of
        self.stamp = InputStamp()
        self.step = 0

    def reset(self, seed: int) -> None:
        self.step = 0

    def take(self) -> tuple[int, bool]:
        action = self.choose(self.step)
        if self.stamp_of is not None:
            self.stamp = self.stamp_of(self.step)
        self.step += 1
        return action, True

    def see(self, screen: Screen) -> None:
        pass


class AgentSeat:
    """A program's seat (the agent API, ``agents/``): it plays the action its last ``step``
    named, and a step is taken only when it asks (``play.clocks.RequestClock``), so every
    recorded action was chosen for its step."""

    def __init__(self, *, n_actions: int, default_action: int, holder: Holder) -> None:
        self.holder = holder
        self.n_actions = n_actions
        self.default_action = default_action
        self.action = default_action
        self.stamp = InputStamp()

    def reset(self, seed: int) -> None:
        self.action = self.default_action

    def act(self, action: int) -> None:
        if not 0 <= action < self.n_actions:
            raise p.ProtocolError(
                "bad_action", f"action_id must be one of the legal actions 0..{self.n_actions - 1}."
            )
        self.action = action

    def take(self) -> tuple[int, bool]:
        return self.action, True

    def see(self, screen: Screen) -> None:
        pass  # the program reads its observation when the step it asked for is done
