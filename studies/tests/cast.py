"""A study with game blocks and the participants of the export tests, walked through its pages
as their browsers would (Django's test client).

The study "reflexes": consent, a questionnaire, then by condition ("fast" or "slow") a Pong
block of one game (50 cents a point, at most 2.00), a second Pong block for everyone (60 cents
a minute of play), and a last page. Pat comes from Prolific, Max from MTurk, Lee by a bare
link; Wendy (Prolific) withdraws and Dora (Prolific) declines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from studies.models import Condition, Participant, Question, Step, Study
from studies.tests.test_game_blocks import played
from studies.tests.test_participants import enter, page, post

PAT = {
    "PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e",
    "STUDY_ID": "st-reflex-01",
    "SESSION_ID": "se-pat-0001",
}
MAX = {"workerId": "A1B2C3D4E5F6G7", "assignmentId": "3ASSIGNMAX0123456789", "hitId": "3HIT01"}
WENDY = {"PROLIFIC_PID": "60aa11bb22cc33dd44ee55ff", "SESSION_ID": "se-wendy-0002"}
DORA = {"PROLIFIC_PID": "70dd0d0d0d0d0d0d0d0d0d0d"}
RAW_IDS = [value for who in (PAT, MAX, WENDY, DORA) for value in who.values()]


def reflexes(game: Any) -> Study:
    study = Study.objects.create(slug="reflexes", title="Reflexes", status=Study.Status.OPEN)
    fast = Condition.objects.create(study=study, name="fast", order=0)
    slow = Condition.objects.create(study=study, name="slow", order=1)
    Step.objects.create(study=study, order=0, kind=Step.Kind.CONSENT, title="Consent",
                        consent_version="v3", consent_items="I agree to take part")  # fmt: skip
    survey = Step.objects.create(study=study, order=1, kind=Step.Kind.QUESTIONNAIRE,
                                 title="About you")  # fmt: skip
    Question.objects.create(step=survey, order=0, kind=Question.Kind.NUMBER, text="Your age?",
                            min_value=18, max_value=99)  # fmt: skip
    Question.objects.create(step=survey, order=1, kind=Question.Kind.LIKERT,
                            text="I play video games often.",
                            choices="Disagree\nNeutral\nAgree")  # fmt: skip
    Question.objects.create(step=survey, order=2, kind=Question.Kind.SHORT, text="Comments?",
                            required=False, max_length=200)  # fmt: skip
    branch = Step.objects.create(study=study, order=2, kind=Step.Kind.CONDITIONS, title="Branch")
    for condition in (fast, slow):
        Step.objects.create(
            study=study, parent=branch, condition=condition, kind=Step.Kind.GAME,
            title=f"Pong, {condition.name}", game=game, episodes=1,
            bonus_per_point="0.50", bonus_cap="2.00",
        )  # fmt: skip
    Step.objects.create(study=study, order=3, kind=Step.Kind.GAME, title="Pong again", game=game,
                        episodes=1, bonus_per_minute="0.60")  # fmt: skip
    Step.objects.create(study=study, order=4, kind=Step.Kind.PAGE, title="Thanks")
    return study


@dataclass
class Walker:
    """A participant and their browser."""

    participant: Participant
    client: Client
    study: Study

    def refresh(self) -> Participant:
        self.participant.refresh_from_db()
        return self.participant

    @property
    def condition(self) -> str:
        condition = self.participant.condition
        return condition.name if condition is not None else ""

    def open_block(self) -> Step:
        """Open the page of the game block they are on (its visit begins), as a browser does."""
        response, _ = page(self.client, self.study)
        assert response.status_code == 200
        step_id = self.refresh().current_step_id
        assert step_id is not None
        step = Step.objects.get(pk=step_id)
        assert step.kind == Step.Kind.GAME, step
        return step

    def next(self) -> None:
        """Past the current block or page."""
        assert post(self.client, self.study, {}).status_code == 302

    def complete(self) -> None:
        _, fields = page(self.client, self.study)
        assert self.client.post(f"/s/{self.study.slug}/complete/", fields).status_code == 302
        assert self.refresh().state == Participant.State.COMPLETED

    def withdraw(self) -> None:
        assert self.client.post(f"/s/{self.study.slug}/withdraw/").status_code == 200

    def report(self, text: str) -> None:
        self.client.post(f"/s/{self.study.slug}/report/", {"text": text, "page": "/s/x/step/"})


def join(study: Study, query: dict[str, str], *, comment: str = "", age: int = 30) -> Walker:
    """Enter, consent and answer the questionnaire: now on their condition's block."""
    client = Client()
    participant = enter(client, study, **query)
    assert post(client, study, {"agree0": "on", "agree": ""}).status_code == 302
    survey = Step.objects.get(study=study, kind=Step.Kind.QUESTIONNAIRE)
    age_q, likert, comments = survey.questions.all()
    answers = {f"q{age_q.pk}": str(age), f"q{likert.pk}": "3", f"q{comments.pk}": comment}
    assert post(client, study, answers).status_code == 302
    walker = Walker(participant, client, study)
    walker.refresh()
    return walker


def decline(study: Study, query: dict[str, str]) -> Participant:
    client = Client()
    participant = enter(client, study, **query)
    assert post(client, study, {"decline": ""}).status_code == 200
    participant.refresh_from_db()
    return participant


@dataclass
class Walked:
    study: Study
    pat: Walker  # Prolific, fast: 1.50 + 0.30 of bonus
    max: Walker  # MTurk, slow: 2.00 (capped) + 0.60
    lee: Walker  # a bare link: 0.50 + 0.10
    wendy: Walker  # Prolific, fast: played, then withdrew
    dora: Participant  # declined

    def everyone(self) -> list[Participant]:
        walkers = [self.pat, self.max, self.lee, self.wendy]
        return [w.refresh() for w in walkers] + [self.dora]


def play_through(walker: Walker, game: Any, *, score: float, again_steps: int) -> None:
    """Both blocks (a game each), the last page, and the completion code."""
    walker.open_block()
    played(walker.participant, game, steps=600, score=score)
    walker.next()
    walker.open_block()
    played(walker.participant, game, steps=again_steps, score=0)
    walker.next()
    walker.next()
    walker.complete()


def walk_the_cast(pong: Any) -> Walked:
    """Everyone's walk through "reflexes" (played games are made as the live sink makes them,
    without recording: enough for the blocks' progress and bonuses)."""
    study = reflexes(pong)
    pat = join(study, PAT, age=31, comment=f"My id: {PAT['PROLIFIC_PID'].upper()}, thanks")
    max_ = join(study, MAX, age=45)
    wendy = join(study, WENDY, age=22, comment="I'd rather not")
    dora = decline(study, DORA)
    lee = join(study, {}, age=50)
    pat.report(f"The game froze (I am {PAT['PROLIFIC_PID']})")
    pat.client.post(
        "/s/reflexes/attention/",
        json.dumps({"position": 1, "events": [[1.5, False, False]], "hidden": 2.5, "blurred": 3}),
        content_type="application/json",
    )
    play_through(pat, pong, score=3, again_steps=1800)
    play_through(max_, pong, score=5, again_steps=3600)
    play_through(lee, pong, score=1, again_steps=600)
    wendy.open_block()
    played(wendy.participant, pong, steps=600, score=2)
    wendy.report("Too hard for me")
    wendy.withdraw()
    Participant.objects.filter(pk=pat.participant.pk).update(ping_ms=42.5)
    return Walked(study, pat, max_, lee, wendy, dora)
