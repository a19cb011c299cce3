"""A participant's walk through a study, as their browser makes it (Django's test client)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from studies import services
from studies.models import Answer, Condition, Participant, Question, Step, StepVisit, Study

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d", "STUDY_ID": "st-1", "SESSION_ID": "se-1"}


def make_study(**fields: Any) -> Study:
    study = Study.objects.create(
        slug="reaction",
        title="Reaction study",
        status=Study.Status.OPEN,
        completion_redirect_url="https://app.prolific.com/submissions/complete?cc={code}",
        entry_parameters="cohort",
        **fields,
    )
    Step.objects.create(
        study=study,
        order=0,
        kind=Step.Kind.CONSENT,
        title="Consent",
        body="We record your play. <script>alert(1)</script>",
        consent_version="v2",
        consent_items="I am 18 or over\nI agree to take part",
    )
    Step.objects.create(study=study, order=1, kind=Step.Kind.PAGE, title="Instructions",
                        body="# How to play\nUse the **arrow keys**.")  # fmt: skip
    survey = Step.objects.create(
        study=study, order=2, kind=Step.Kind.QUESTIONNAIRE, title="About you"
    )
    Question.objects.create(step=survey, order=0, kind=Question.Kind.NUMBER, text="Your age?",
                            min_value=18, max_value=99)  # fmt: skip
    Question.objects.create(step=survey, order=1, kind=Question.Kind.LIKERT,
                            text="I play video games often.",
                            choices="Disagree\nNeutral\nAgree")  # fmt: skip
    Question.objects.create(step=survey, order=2, kind=Question.Kind.MULTIPLE,
                            text="Which have you played?", choices="Pong\nBreakout\nBoxing",
                            required=False)  # fmt: skip
    Question.objects.create(step=survey, order=3, kind=Question.Kind.SHORT, text="Comments?",
                            required=False, max_length=20)  # fmt: skip
    group = Step.objects.create(study=study, order=3, kind=Step.Kind.RANDOM, title="Pair")
    Step.objects.create(study=study, parent=group, order=0, kind=Step.Kind.PAGE, title="Left")
    Step.objects.create(study=study, parent=group, order=1, kind=Step.Kind.PAGE, title="Right")
    return study


def enter(client: Client, study: Study, **query: str) -> Participant:
    response = client.get(f"/s/{study.slug}/", query)
    assert response.status_code == 302, response.content[:500]
    return Participant.objects.get(pk=client.session["studies"][study.slug])


def page(client: Client, study: Study) -> tuple[Any, dict[str, str]]:
    response = client.get(f"/s/{study.slug}/step/")
    text = response.content.decode()
    fields = dict(re.findall(r'name="(position|tab)" value="([^"]*)"', text))
    return response, fields


def post(client: Client, study: Study, data: dict[str, Any]) -> Any:
    _, fields = page(client, study)
    return client.post(f"/s/{study.slug}/step/", {**fields, **data})


def claim(client: Client, study: Study, token: str) -> Any:
    """What a study page's script does as it opens, then every few seconds."""
    return client.post(f"/s/{study.slug}/tab/", {"t": token}).json()


def walk_to_the_end(client: Client, study: Study) -> None:
    assert post(client, study, {"agree0": "on", "agree1": "on", "agree": ""}).status_code == 302
    assert post(client, study, {}).status_code == 302  # instructions
    survey = Step.objects.get(study=study, kind=Step.Kind.QUESTIONNAIRE)
    age, likert, played, _ = survey.questions.all()
    answers = {f"q{age.pk}": "31", f"q{likert.pk}": "3", f"q{played.pk}": ["Pong", "Boxing"]}
    assert post(client, study, answers).status_code == 302
    assert post(client, study, {}).status_code == 302  # the pair's first page
    assert post(client, study, {}).status_code == 302  # and its second


def test_a_participant_from_prolific_walks_the_study_and_gets_a_code_once() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC, cohort="b", other="dropped")
    assert participant.source == "prolific" and participant.external_id == "5f1a2b3c4d"
    assert participant.parameters == {**PROLIFIC, "cohort": "b"}
    response, _ = page(client, study)
    body = response.content.decode()
    assert "&lt;script&gt;" in body and "<script>alert" not in body  # researcher HTML escaped
    assert "Step 1 of 5" in body
    walk_to_the_end(client, study)
    participant.refresh_from_db()
    assert participant.state == "consented" and participant.consent_version == "v2"
    assert (
        participant.done_walking and next(iter(participant.drawn.values())) == participant.plan[3:5]
    )
    answers = {a.question.text: a.value for a in Answer.objects.filter(participant=participant)}
    assert answers == {
        "Your age?": 31.0,
        "I play video games often.": 3,
        "Which have you played?": ["Pong", "Boxing"],
    }
    assert StepVisit.objects.filter(participant=participant, finished_at__isnull=False).count() == 5
    # The code, once: then the done page shows it and a second request is refused.
    _, fields = page(client, study)
    assert client.post(f"/s/{study.slug}/complete/", fields).status_code == 302
    participant.refresh_from_db()
    code = participant.completion_code
    assert participant.state == "completed" and code and len(code) == 12
    done = client.get(f"/s/{study.slug}/done/").content.decode()
    assert code in done and f"cc={code}" in done
    again = client.post(f"/s/{study.slug}/complete/", fields)
    assert again.status_code == 409 and b"already issued" in again.content
    participant.refresh_from_db()
    assert participant.completion_code == code


def test_the_code_is_refused_before_every_step_is_done() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    _, fields = page(client, study)
    response = client.post(f"/s/{study.slug}/complete/", fields)
    assert response.status_code == 403 and b"once every step" in response.content
    participant.refresh_from_db()
    assert participant.completion_code is None and participant.state == "started"


def test_the_same_prolific_id_from_another_browser_is_refused_and_the_same_browser_resumes() -> (
    None
):
    study = make_study()
    first = Client()
    participant = enter(first, study, **PROLIFIC)
    post(first, study, {"agree0": "on", "agree1": "on", "agree": ""})
    again = enter(first, study, **PROLIFIC)  # the same browser comes back
    assert again.pk == participant.pk and again.position == 1
    other = Client()
    refused = other.get(f"/s/{study.slug}/", PROLIFIC)
    assert refused.status_code == 403 and b"already taken part" in refused.content
    assert Participant.objects.filter(study=study).count() == 1


def test_a_second_tab_takes_over_and_the_first_is_told() -> None:
    study = make_study()
    client = Client()
    enter(client, study, **PROLIFIC)
    _, first_tab = page(client, study)
    _, second_tab = page(client, study)  # the same browser opens the study in another tab
    assert first_tab["tab"] != second_tab["tab"]
    assert claim(client, study, first_tab["tab"]) == {"current": True}  # as each page opens
    assert claim(client, study, second_tab["tab"]) == {"current": True}
    stale = client.post(f"/s/{study.slug}/step/", {**first_tab, "agree0": "on", "agree1": "on"})
    assert stale.status_code == 409 and b"another tab" in stale.content
    assert claim(client, study, first_tab["tab"]) == {"current": False}  # told when it asks
    assert claim(client, study, second_tab["tab"]) == {"current": True}
    ok = client.post(f"/s/{study.slug}/step/", {**second_tab, "agree0": "on", "agree1": "on"})
    assert ok.status_code == 302


def test_the_tab_opened_last_holds_the_study_whichever_claims_first() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    _, first_tab = page(client, study)
    _, second_tab = page(client, study)
    # The later page's claim arrives first (the first page's script was slow): it still wins,
    # and showing the pages wrote nothing.
    assert Participant.objects.get(pk=participant.pk).tab == ""
    assert claim(client, study, second_tab["tab"]) == {"current": True}
    assert claim(client, study, first_tab["tab"]) == {"current": False}
    # A later page's form may act before its script has claimed: it claims as it posts.
    _, third_tab = page(client, study)
    assert (
        client.post(
            f"/s/{study.slug}/step/", {**third_tab, "agree0": "on", "agree1": "on"}
        ).status_code
        == 302
    )
    assert claim(client, study, second_tab["tab"]) == {"current": False}


def test_a_made_up_or_tampered_tab_holds_nothing() -> None:
    study = make_study()
    client = Client()
    enter(client, study, **PROLIFIC)
    _, fields = page(client, study)
    value, signature = fields["tab"].split(":", 1)
    for forged in ("", "any", "99999999999999999999ffffffff", f"9{value[1:]}:{signature}"):
        assert claim(client, study, forged) == {"current": False}
        refused = client.post(
            f"/s/{study.slug}/step/", {**fields, "tab": forged, "agree0": "on", "agree1": "on"}
        )
        assert refused.status_code == 409
    assert claim(client, study, fields["tab"]) == {"current": True}
    assert client.get(f"/s/{study.slug}/tab/").status_code == 405  # claiming is a POST


def test_a_step_cannot_be_skipped_or_answered_twice() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    _, fields = page(client, study)
    skipped = client.post(f"/s/{study.slug}/step/", {**fields, "position": "2"})
    assert skipped.status_code == 409 and b"not your current step" in skipped.content
    for malformed in ("", "x", "1e9", "-"):
        answer = client.post(f"/s/{study.slug}/step/", {**fields, "position": malformed})
        assert answer.status_code == 400 and b"incomplete" in answer.content
    agree = {**fields, "agree0": "on", "agree1": "on"}
    assert client.post(f"/s/{study.slug}/step/", agree).status_code == 302
    _, now = page(client, study)
    replay = client.post(f"/s/{study.slug}/step/", {**agree, "tab": now["tab"]})
    assert replay.status_code == 409
    participant.refresh_from_db()
    assert participant.position == 1


def test_answers_are_validated_on_the_server() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    post(client, study, {"agree0": "on", "agree1": "on"})
    post(client, study, {})
    age, likert, played, comment = Step.objects.get(kind="questionnaire").questions.all()
    bad = {
        f"q{age.pk}": "12",  # below the lowest
        f"q{likert.pk}": "7",  # not a point of the scale
        f"q{played.pk}": ["Tetris"],
        f"q{comment.pk}": "x" * 21,  # over its length
    }
    response = post(client, study, bad)
    assert response.status_code == 400
    text = response.content.decode()
    assert "greater than or equal to 18" in text and "Select a valid choice" in text
    assert "at most 20 characters" in text
    missing = post(client, study, {})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    participant.refresh_from_db()
    assert participant.position == 2 and not participant.answers.exists()


def test_declining_consent_ends_the_study_and_keeps_nothing_but_the_decline() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    client.post(f"/s/{study.slug}/report/", {"text": "The text is small"})
    response = post(client, study, {"decline": ""})
    assert response.status_code == 200 and b"chose not to take part" in response.content
    participant.refresh_from_db()
    assert participant.state == "declined" and participant.parameters == {}
    assert not participant.visits.exists() and not participant.problem_reports.exists()
    after = client.get(f"/s/{study.slug}/step/")
    assert b"nothing more to do" in after.content


def test_consent_needs_every_statement_ticked() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    response = post(client, study, {"agree0": "on", "agree": ""})
    assert response.status_code == 400 and b"tick every statement" in response.content
    participant.refresh_from_db()
    assert participant.state == "started" and participant.position == 0


def test_withdrawal_leaves_the_exports_and_is_purged_after_the_retention_period() -> None:
    study = make_study(retention_days=7)
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    walk_to_the_end(client, study)
    assert client.post(f"/s/{study.slug}/withdraw/").status_code == 200
    participant.refresh_from_db()
    assert participant.state == "withdrew"
    assert not Participant.objects.in_exports().filter(pk=participant.pk).exists()
    assert services.purge_withdrawn() == 0  # within the retention period
    later = timezone.now() + timedelta(days=8)
    assert services.purge_withdrawn(now=later) == 1
    assert not participant.answers.exists() and not participant.visits.exists()
    assert Participant.objects.filter(pk=participant.pk).exists()  # the id stays: once per person


def test_a_problem_report_is_stored_with_the_participant_and_its_step() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    response = client.post(
        f"/s/{study.slug}/report/",
        {"text": "The page froze", "page": "/s/reaction/step/"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"ok": True}
    report = participant.problem_reports.get()
    assert report.text == "The page froze" and report.step_id == participant.plan[0]
    empty = client.post(f"/s/{study.slug}/report/", {"text": " "}, HTTP_ACCEPT="application/json")
    assert empty.status_code == 400


def test_closed_full_and_draft_studies_turn_people_away_clearly() -> None:
    study = make_study(max_participants=1)
    enter(Client(), study, PROLIFIC_PID="first")
    full = Client().get(f"/s/{study.slug}/", {"PROLIFIC_PID": "second"})
    assert full.status_code == 409 and b"full" in full.content
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    closed = Client().get(f"/s/{study.slug}/", {"PROLIFIC_PID": "third"})
    assert closed.status_code == 409 and b"closed" in closed.content
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    draft = Client().get(f"/s/{study.slug}/", {"PROLIFIC_PID": "fourth"})
    assert draft.status_code == 404
    assert Participant.objects.filter(study=study).count() == 1


@pytest.mark.parametrize("state", ["timed_out", "refused", "withdrew", "declined"])
def test_a_participant_who_left_or_timed_out_frees_their_place(state: str) -> None:
    study = make_study(max_participants=1)
    first = enter(Client(), study, PROLIFIC_PID="first")
    Participant.objects.filter(pk=first.pk).update(state=state)
    assert enter(Client(), study, PROLIFIC_PID="second").state == "started"
    again = Client().get(f"/s/{study.slug}/", {"PROLIFIC_PID": "first"})
    assert again.status_code == 403  # but they cannot take it up again themselves


def test_pages_of_a_study_need_its_link_first() -> None:
    study = make_study()
    response = Client().get(f"/s/{study.slug}/step/")
    assert response.status_code == 403 and b"Open the link" in response.content


def test_participants_are_balanced_across_conditions_by_completions_then_walkers() -> None:
    study = make_study()
    feedback = Condition.objects.create(study=study, name="feedback", order=0)
    silent = Condition.objects.create(study=study, name="no feedback", order=1)
    branch = Step.objects.create(study=study, order=4, kind=Step.Kind.CONDITIONS, title="Branch")
    Step.objects.create(study=study, parent=branch, condition=feedback, kind="page", title="F")
    Step.objects.create(study=study, parent=branch, condition=silent, kind="page", title="S")
    first = enter(Client(), study, PROLIFIC_PID="a")
    second = enter(Client(), study, PROLIFIC_PID="b")
    assert {first.condition_id, second.condition_id} == {feedback.pk, silent.pk}
    # "a" completes: the next goes to the condition with fewer completions.
    Participant.objects.filter(pk=first.pk).update(state=Participant.State.COMPLETED)
    third = enter(Client(), study, PROLIFIC_PID="c")
    assert third.condition_id == second.condition_id
    titles = set(Step.objects.filter(pk__in=third.plan).values_list("title", flat=True))
    assert ("S" in titles) == (third.condition_id == silent.pk)


def test_a_page_reports_its_focus_and_visibility_and_nonsense_is_refused() -> None:
    study = make_study()
    client = Client()
    participant = enter(client, study, **PROLIFIC)
    page(client, study)
    url = f"/s/{study.slug}/attention/"
    good = {"position": 0, "events": [[0, True, True], [2.5, False, False]], "hidden": 1.5}
    assert client.post(url, good, content_type="application/json").status_code == 200
    visit = participant.visits.get(position=0)
    assert visit.attention == [[0.0, True, True], [2.5, False, False]]
    assert visit.hidden_seconds == 1.5
    for bad in (
        b"not json",
        b'{"position": "a"}',
        b'{"position": 0, "events": [[1, 2]]}',
        b'{"position": 0, "hidden": "nan"}',
        b'{"position": 0, "blurred": 1e308}',
        b'{"position": 0, "events": [[-1, true, true]]}',
        b"[1]",
    ):
        response = client.post(url, bad, content_type="application/json")
        assert response.status_code == 400, bad
    visit.refresh_from_db()
    assert visit.hidden_seconds == 1.5  # nothing half-written
