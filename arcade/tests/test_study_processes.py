"""Participants arriving at once on two web processes are spread across a study's conditions."""

from __future__ import annotations

import threading
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

import pytest

from studies.models import Condition, Participant, Step, Study

from .conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.stack_pinned]


def enter(url: str, pid: str) -> int:
    """A browser of its own following the study's link: the status of the page it lands on."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{url}/s/two-ways/?PROLIFIC_PID={pid}", timeout=30) as response:
        return int(response.status)


def test_two_participants_at_once_on_two_processes_get_the_two_conditions(
    live_stack: Stack,
) -> None:
    study = Study.objects.create(slug="two-ways", title="Two ways", status=Study.Status.OPEN)
    shown = Condition.objects.create(study=study, name="feedback shown", order=0)
    hidden = Condition.objects.create(study=study, name="no feedback", order=1)
    branch = Step.objects.create(study=study, order=0, kind="conditions", title="Feedback")
    for condition in (shown, hidden):
        Step.objects.create(study=study, parent=branch, condition=condition, kind="page",
                            title=condition.name)  # fmt: skip
    first, second = live_stack.urls
    pairs = 8

    def arrive(start: threading.Barrier, statuses: list[int], url: str, pid: str) -> None:
        start.wait()  # both requests leave together
        statuses.append(enter(url, pid))

    for pair in range(pairs):
        statuses: list[int] = []
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=arrive, args=(start, statuses, first, f"p{pair}a")),
            threading.Thread(target=arrive, args=(start, statuses, second, f"p{pair}b")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [200, 200], live_stack.tail()
        got: Any = set(
            Participant.objects.filter(external_id__in=[f"p{pair}a", f"p{pair}b"]).values_list(
                "condition__name", flat=True
            )
        )
        assert got == {"feedback shown", "no feedback"}, f"pair {pair}: {got}"
    counts = {c.name: c.participants.count() for c in study.conditions.all()}
    assert counts == {"feedback shown": pairs, "no feedback": pairs}
