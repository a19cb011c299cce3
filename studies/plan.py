"""A participant's plan: the study's steps, flattened into the order they walk them.

Pure: it takes the steps as plain records, so it is tested without a database. A randomised
group contributes its steps in an order drawn for the participant (only ``pick`` of them when
set: Interactive Gym's ``RandomizeOrder``); a conditions step contributes the steps of the
participant's condition. Groups may hold groups; containers themselves are never walked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlanStep:
    id: int
    kind: str
    order: int
    parent: int | None = None
    condition: int | None = None
    pick: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    steps: list[int]  # walked in this order
    drawn: dict[str, list[int]]  # each randomised group's drawn order (its steps' ids)


def flatten(steps: Sequence[PlanStep], *, condition: int | None, rng: random.Random) -> Plan:
    children: dict[int | None, list[PlanStep]] = {}
    for step in sorted(steps, key=lambda s: (s.order, s.id)):
        children.setdefault(step.parent, []).append(step)
    walked: list[int] = []
    drawn: dict[str, list[int]] = {}

    def visit(step: PlanStep, depth: int) -> None:
        if depth > 10:
            raise ValueError("steps nest more than ten groups deep (a step inside itself?)")
        members = children.get(step.id, [])
        if step.kind == "random":
            members = list(members)
            rng.shuffle(members)
            if step.pick is not None:
                members = members[: step.pick]
            drawn[str(step.id)] = [member.id for member in members]
        elif step.kind == "conditions":
            members = [member for member in members if member.condition == condition]
        else:
            walked.append(step.id)
            return
        for member in members:
            visit(member, depth + 1)

    for step in children.get(None, []):
        visit(step, 0)
    return Plan(steps=walked, drawn=drawn)
