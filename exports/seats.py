"""Multi-seat episodes in datasets: each seat's perspective, and its holders as pseudonyms.

A multi-seat episode's steps hold seat 0's action, reward and input stamp in the one-seat
columns and every seat's in the ``seat_`` columns (docs/recording.md). ``seat_view`` gives the
episode as one seat played it, in the one-seat columns, so a format writes a seat's
perspective as it writes a one-player episode: the seat's actions and rewards, its input, its
lives and applied actions. No Django here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from recording import stepcolumns
from recording.frames import EpisodeData
from recording.stepcolumns import SeatStamp

from .observations import Trajectory


def seat_count(data: EpisodeData) -> int:
    """How many seats the episode's steps record; 0 for a one-seat episode."""
    joint = data.steps["seat_actions"]
    return len(joint[0]) if joint and joint[0] is not None else 0


# Who held a seat from which step: (seat, from_step, kind), one per ``EpisodeSeat`` row.
Tenure = tuple[int, int, str]


def pseudonymise_holders(
    data: EpisodeData, pseudonym: Callable[[str], str], tenures: Iterable[Tenure] = ()
) -> None:
    """Name each person holding a seat as ``user:<pseudonym>`` (``pseudonym`` of the user id),
    never by the database's id, and each program as ``agent:<pseudonym>`` of its owner: the
    recording names an agent's seat by its token's owner (``user:<id>``), and only the seat's
    kind at that step (``tenures``) tells it from the owner playing. Policies and vacant seats
    are named as recorded."""
    spans: dict[int, list[tuple[int, str]]] = {}
    for seat, from_step, kind in sorted(tenures):
        spans.setdefault(seat, []).append((from_step, kind))
    starts = {seat: [start for start, _ in held] for seat, held in spans.items()}

    def kind_at(seat: int, step: int) -> str:
        at = bisect_right(starts.get(seat, []), step) - 1
        return spans[seat][at][1] if at >= 0 else "human"

    names: dict[tuple[str, bool], str] = {}

    def renamed(holder: str, agent: bool) -> str:
        if (holder, agent) not in names:
            kind, _, ident = holder.partition(":")
            if kind == "user":
                names[holder, agent] = f"{'agent' if agent else 'user'}:{pseudonym(ident)}"
            else:
                names[holder, agent] = holder
        return names[holder, agent]

    data.steps["seat_holders"] = [
        None
        if holders is None
        else [renamed(h, kind_at(seat, step) == "agent") for seat, h in enumerate(holders)]
        for step, holders in enumerate(data.steps["seat_holders"])
    ]


def _seat_info(info: Any, seat: int) -> Any:
    """The env's info as one seat sees it: its lives and, with sticky actions, the action
    each frame applied for it."""
    if not isinstance(info, dict):
        return info
    seen = dict(info)
    lives = info.get("lives")
    if isinstance(lives, list):
        seen["lives"] = lives[seat]
    applied = info.get("applied")
    if isinstance(applied, list) and all(isinstance(frame, list) for frame in applied):
        seen["applied"] = [frame[seat] for frame in applied]
    return seen


def seat_view(data: EpisodeData, seat: int) -> EpisodeData:
    """The episode as seat ``seat`` played it: its action, reward, input stamp, lives and
    applied actions in the one-seat columns; the ``seat_`` columns as they are."""
    n = stepcolumns.n_steps(data.steps)
    steps = stepcolumns.sliced(data.steps, 0, n)
    joint = [a for a in steps["seat_actions"] if a is not None]
    rewards = [r for r in steps["seat_rewards"] if r is not None]
    stamps = [s for s in steps["seat_stamps"] if s is not None]
    if len(joint) != n or len(rewards) != n or len(stamps) != n:
        raise ValueError("a step of the multi-seat episode lacks its per-seat values")
    mine: list[SeatStamp] = [row[seat] for row in stamps]
    steps["action"] = [row[seat] for row in joint]
    steps["reward"] = [float(row[seat]) for row in rewards]
    steps["input_seq"] = [s["seq"] for s in mine]
    steps["client_frame"] = [s["client_frame"] for s in mine]
    steps["t_shown"] = [s["t_shown"] for s in mine]
    steps["t_key"] = [s["t_key"] for s in mine]
    steps["t_received"] = [s["t_received"] for s in mine]
    steps["keys"] = [list(s["keys"]) for s in mine]
    steps["info"] = [_seat_info(info, seat) for info in steps["info"]]
    return replace(data, steps=steps)


def seat_trajectory(trajectory: Trajectory, seat_data: EpisodeData) -> Trajectory:
    """``trajectory`` (made from the episode's steps) with one seat's actions and rewards: the
    same observations and ends of episode; each step's action the seat's at the recorded step
    it starts at, its reward the seat's summed over the recorded steps it covers (four for
    ``atari`` observations, as the trajectory's own rewards)."""
    raw = trajectory.raw_steps
    actions = np.asarray(seat_data.steps["action"], np.int64)
    rewards = np.asarray(seat_data.steps["reward"], np.float64)
    if raw.size == 0:
        return replace(trajectory, actions=actions[:0], rewards=rewards[:0])
    recorded = len(rewards)
    last = int(raw[-1])
    span = int(raw[1] - raw[0]) if raw.size > 1 else 1
    end = min(last + max(span, 1), recorded)
    ended = np.flatnonzero(
        np.asarray(seat_data.steps["terminated"][last:end], bool)
        | np.asarray(seat_data.steps["truncated"][last:end], bool)
    )
    if ended.size:
        end = last + int(ended[0]) + 1
    summed = np.add.reduceat(rewards[:end], raw) if end > last else rewards[raw]
    return replace(trajectory, actions=actions[raw], rewards=summed)
