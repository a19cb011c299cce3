"""A researcher's side in the admin: building a study, its outline, versions and variants."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from games.models import Game
from studies.markdown import render
from studies.models import Participant, Question, Step, Study
from studies.tests.test_participants import PROLIFIC, enter, make_study, page, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_the_study_page_shows_its_steps_as_an_outline_and_its_link(admin_client: Client) -> None:
    study = make_study()
    page = admin_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "Consent: Consent, version v2" in page
    assert "Questionnaire: About you, 4 questions" in page
    assert "Randomised group: Pair, random order" in page
    assert "/s/reaction/" in page


def test_editing_a_step_participants_saw_makes_a_new_version(admin_client: Client) -> None:
    study = make_study()
    client = Client()
    walker = enter(client, study, **PROLIFIC)
    post(client, study, {"agree0": "on", "agree1": "on"})
    post(client, study, {})
    page(client, study)  # the questionnaire is shown: it has been seen
    survey = Step.objects.get(study=study, kind=Step.Kind.QUESTIONNAIRE)
    questions = list(survey.questions.all())
    form: dict[str, Any] = {
        "study": study.pk, "order": 2, "kind": "questionnaire", "title": "About you (v2)",
        "body": "", "seating": "alone", "countdown_seconds": 3,
        "questions-TOTAL_FORMS": len(questions), "questions-INITIAL_FORMS": len(questions),
        "questions-MIN_NUM_FORMS": 0, "questions-MAX_NUM_FORMS": 1000,
    }  # fmt: skip
    for i, q in enumerate(questions):
        form |= {
            f"questions-{i}-id": q.pk, f"questions-{i}-step": survey.pk,
            f"questions-{i}-order": q.order, f"questions-{i}-kind": q.kind,
            f"questions-{i}-text": q.text + (" (edited)" if i == 0 else ""),
            f"questions-{i}-choices": q.choices,
            f"questions-{i}-required": "on" if q.required else "",
            f"questions-{i}-min_value": q.min_value or "",
            f"questions-{i}-max_value": q.max_value or "",
            f"questions-{i}-max_length": q.max_length,
        }  # fmt: skip
    response = admin_client.post(f"/admin/studies/step/{survey.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    survey.refresh_from_db()
    assert survey.retired_at is not None and survey.title == "About you"  # as it was seen
    new = Step.objects.get(replaces=survey)
    assert new.title == "About you (v2)" and new.questions.count() == 4
    assert new.questions.first().text == "Your age? (edited)"  # type: ignore[union-attr]
    assert Question.objects.filter(step=survey).count() == 4  # the old questions stay
    study.refresh_from_db()
    assert study.version == 2
    walker.refresh_from_db()
    assert survey.pk in walker.plan and walker.study_version == 1
    newcomer = enter(Client(), study, PROLIFIC_PID="someone-else")
    assert new.pk in newcomer.plan and survey.pk not in newcomer.plan
    assert newcomer.study_version == 2


def test_a_study_duplicates_as_a_draft_with_its_steps_and_questions(admin_client: Client) -> None:
    study = make_study()
    response = admin_client.post(
        "/admin/studies/study/", {"action": "duplicate", "_selected_action": [study.pk]}
    )
    assert response.status_code == 302
    copy = Study.objects.get(slug="reaction-copy")
    assert copy.status == Study.Status.DRAFT
    assert copy.steps.count() == study.steps.count()
    group = copy.steps.get(kind=Step.Kind.RANDOM)
    assert group.children.count() == 2
    assert Question.objects.filter(step__study=copy).count() == 4


def test_a_study_whose_block_cannot_be_played_is_not_opened(
    admin_client: Client, make_game: Any
) -> None:
    study = make_study()
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    game = make_game("pong-2p")
    Step.objects.create(study=study, order=9, kind=Step.Kind.GAME, title="Duel", game=game,
                        seating="vs_human", episodes=2)  # fmt: skip
    Game.objects.filter(pk=game.pk).update(enabled=False)  # the catalogue changed since
    answer = admin_client.post(
        "/admin/studies/study/",
        {"action": "open_studies", "_selected_action": [study.pk]},
        follow=True,
    )
    assert "Duel: Pong for two is disabled in the catalogue." in answer.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT
    Game.objects.filter(pk=game.pk).update(enabled=True)
    admin_client.post(
        "/admin/studies/study/", {"action": "open_studies", "_selected_action": [study.pk]}
    )
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_recruitment_ids_are_shown_only_to_staff_with_the_permission(staff: Any) -> None:
    from django.contrib.auth.models import Permission

    from accounts.models import User

    study = make_study()
    participant = enter(Client(), study, **PROLIFIC)
    helper = User.objects.create_user("dan@example.org", "dan-password-1", is_staff=True)
    helper.user_permissions.add(Permission.objects.get(codename="view_participant"))
    client = Client()
    client.force_login(helper)
    page = client.get(f"/admin/studies/participant/{participant.pk}/change/").content.decode()
    assert page and "5f1a2b3c4d" not in page
    superuser = Client()
    superuser.force_login(staff)
    assert (
        "5f1a2b3c4d"
        in superuser.get(f"/admin/studies/participant/{participant.pk}/change/").content.decode()
    )


def test_researchers_markdown_cannot_carry_a_script() -> None:
    html = render(
        "**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1)) [ok](https://example.org)"
    )
    assert "<strong>bold</strong>" in html
    assert "<img" not in html and "&lt;img" in html  # shown as text
    assert 'href="javascript' not in html
    assert 'href="https://example.org"' in html


def test_participants_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get("/admin/studies/participant/add/").status_code == 403
    assert Participant.objects.count() == 0
