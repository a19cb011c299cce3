"""A participant's plan, drawn from the study's steps: no database."""

from __future__ import annotations

import random
from collections import Counter

from studies.plan import PlanStep, flatten

STEPS = [
    PlanStep(1, "consent", 0),
    PlanStep(2, "random", 1, pick=2),
    PlanStep(3, "page", 0, parent=2),
    PlanStep(4, "page", 1, parent=2),
    PlanStep(5, "page", 2, parent=2),
    PlanStep(6, "conditions", 2),
    PlanStep(7, "questionnaire", 0, parent=6, condition=100),
    PlanStep(8, "page", 1, parent=6, condition=200),
    PlanStep(9, "page", 3),
]


def test_a_plan_walks_the_steps_in_order_with_the_drawn_group_and_the_condition_branch() -> None:
    drawn = flatten(STEPS, condition=100, rng=random.Random(1))
    assert drawn.steps[0] == 1 and drawn.steps[-2:] == [7, 9]
    group = drawn.drawn["2"]
    assert len(group) == 2 and set(group) <= {3, 4, 5}
    assert drawn.steps[1:3] == group  # the group's steps in their drawn order
    assert 8 not in drawn.steps  # the other condition's step


def test_a_randomised_group_draws_every_order_over_many_participants() -> None:
    orders = Counter(
        tuple(flatten(STEPS, condition=200, rng=random.Random(seed)).drawn["2"])
        for seed in range(600)
    )
    assert len(orders) == 6  # 3 steps taken 2 at a time, in order: 6 draws, all of them seen
    assert min(orders.values()) > 50


def test_groups_nest_and_containers_are_never_walked() -> None:
    steps = [
        PlanStep(1, "random", 0),
        PlanStep(2, "conditions", 0, parent=1),
        PlanStep(3, "page", 0, parent=2, condition=5),
        PlanStep(4, "page", 1, parent=1),
    ]
    walked = flatten(steps, condition=5, rng=random.Random(0)).steps
    assert sorted(walked) == [3, 4]
