"""A participant from Prolific walks a whole study in a real browser, against the live stack."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from studies.models import Participant, Question, Step, Study

from .conftest import Stack
from .test_browser import browser, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PROLIFIC = "PROLIFIC_PID=60aa11bb22cc&STUDY_ID=st-9&SESSION_ID=se-9"


def a_study(pong: Any) -> Study:
    pong.max_steps = 150  # a game of two and a half seconds: the block's two go quickly
    pong.save(update_fields=["max_steps"])
    study = Study.objects.create(
        slug="pong-feel",
        title="How Pong feels",
        status=Study.Status.OPEN,
        completion_redirect_url="https://app.prolific.com/submissions/complete?cc={code}",
    )
    Step.objects.create(study=study, order=0, kind="consent", title="Consent",
                        body="We record every step you play.", consent_version="2026-12",
                        consent_items="I am 18 or over\nI agree to take part")  # fmt: skip
    Step.objects.create(study=study, order=1, kind="page", title="Instructions",
                        body="Move the paddle with the **arrow keys**.")  # fmt: skip
    survey = Step.objects.create(study=study, order=2, kind="questionnaire", title="About you")
    Question.objects.create(step=survey, order=0, kind="number", text="Your age?",
                            min_value=18, max_value=99)  # fmt: skip
    Question.objects.create(step=survey, order=1, kind="likert", text="I play video games.",
                            choices="Never\nSometimes\nOften")  # fmt: skip
    Step.objects.create(study=study, order=3, kind="game", title="Play Pong", game=pong,
                        episodes=2, countdown_seconds=1, show_score_page=True)  # fmt: skip
    pair = Step.objects.create(study=study, order=4, kind="random", title="Two thoughts")
    Step.objects.create(study=study, parent=pair, order=0, kind="page", title="First thought")
    Step.objects.create(study=study, parent=pair, order=1, kind="page", title="Second thought")
    return study


def heading(on: Page) -> str:
    return str(on.locator("main h1").first.inner_text())


def test_a_participant_walks_a_study_from_prolific_to_the_completion_code(
    live_stack: Stack,
    pong: Any,
    page: Page,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    study = a_study(pong)
    page.goto(f"{live_stack.url}/s/{study.slug}/?{PROLIFIC}")
    expect(page.locator("main h1")).to_have_text("Consent")
    page.get_by_label("I am 18 or over").check()
    page.get_by_label("I agree to take part").check()
    page.get_by_role("button", name="I agree, take part").click()

    expect(page.locator("main h1")).to_have_text("Instructions")
    expect(page.locator("main strong")).to_have_text("arrow keys")
    # A second tab of the same browser takes the study over; the first says so and stops.
    second_tab = page.context.new_page()
    second_tab.goto(f"{live_stack.url}/s/{study.slug}/step/")
    expect(second_tab.locator("main h1")).to_have_text("Instructions")
    expect(page.locator("#tab-taken")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("button", name="Continue")).to_be_disabled()
    second_tab.close()
    page.reload()  # reloading takes it back
    expect(page.locator("#tab-taken")).to_be_hidden()
    page.get_by_role("button", name="Continue").click()

    expect(page.locator("main h1")).to_have_text("About you")
    page.get_by_role("button", name="Continue").click()  # nothing answered: refused
    expect(page.locator(".form-errors")).to_be_visible()
    page.locator("input[type=number]").fill("34")
    page.get_by_label("Often").check()
    page.get_by_role("button", name="Continue").click()

    # The game block: two games of Pong, the second starting by itself after the first.
    expect(page.locator("main h1").first).to_have_text("Play Pong")
    continue_button = page.locator("#block-continue button")
    expect(continue_button).to_be_disabled()
    state = page.locator("#episode-state")
    expect(state).to_have_attribute("data-state", "standby", timeout=20_000)
    page.locator("#screen").focus()
    page.keyboard.press("ArrowUp")
    expect(state).to_have_attribute("data-state", "over", timeout=20_000)
    expect(page.locator("#summary")).to_contain_text("The next game starts in 1 s")
    expect(state).to_have_attribute("data-state", "playing", timeout=20_000)  # no key needed
    expect(state).to_have_attribute("data-state", "over", timeout=20_000)
    expect(continue_button).to_be_enabled(timeout=20_000)
    expect(page.locator("#block-episodes")).to_have_text("2")
    continue_button.click()

    # The block's score page: the participant's score among everyone's (the first to finish).
    expect(page.locator("main h1")).to_have_text("Your score: Play Pong")
    expect(page.locator("#score-words")).to_contain_text("You scored")
    expect(page.locator("main svg").first).to_be_visible()
    page.get_by_role("button", name="Continue").click()

    first = heading(page)
    assert first in ("First thought", "Second thought")
    page.get_by_role("button", name="Continue").click()
    second = heading(page)
    assert {first, second} == {"First thought", "Second thought"}
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("button", name="Get my completion code").click()
    code = page.locator("#completion-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-F]{12}", code)
    link = page.locator("#completion-redirect")
    assert link.get_attribute("href") == (
        f"https://app.prolific.com/submissions/complete?cc={code}"
    )

    participant = Participant.objects.get(study=study)
    assert participant.state == "completed" and participant.completion_code == code
    assert participant.parameters["SESSION_ID"] == "se-9"
    assert participant.answers.count() == 2
    assert participant.block_episodes.count() == 2
    for link_row in participant.block_episodes.select_related("episode"):
        assert link_row.episode.context["study"] == study.slug
        assert link_row.episode.user_id == participant.user_id

    # The same Prolific id in another browser is turned away.
    other = browser.new_context()
    try:
        again = other.new_page()
        again.goto(f"{live_stack.url}/s/{study.slug}/?{PROLIFIC}")
        expect(again.locator("main h1")).to_have_text("You have already taken part")
    finally:
        other.close()
    assert Participant.objects.filter(study=study).count() == 1


def test_two_participants_of_a_block_against_each_other_play_one_game_together(
    live_stack: Stack,
    make_game: Any,
    browser: Browser,  # noqa: F811
) -> None:
    duel = make_game("pong-2p", max_steps=150, start_countdown=1)
    study = Study.objects.create(slug="duel", title="A duel", status=Study.Status.OPEN)
    Step.objects.create(study=study, order=0, kind="game", title="Duel", game=duel,
                        seating="vs_human", episodes=1, countdown_seconds=1)  # fmt: skip
    Step.objects.create(study=study, order=1, kind="page", title="Thanks")
    contexts = [browser.new_context() for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for pid, each in zip(("duel-a", "duel-b"), pages, strict=True):
            each.goto(f"{live_stack.url}/s/{study.slug}/?PROLIFIC_PID={pid}")
            expect(each.locator("main h1").first).to_have_text("Duel")
        for each in pages:  # they meet in the block's waiting room, and the game ends for both
            expect(each.locator("#episode-state")).to_have_attribute(
                "data-state", "over", timeout=30_000
            )
            expect(each.locator("#block-continue button")).to_be_enabled(timeout=20_000)
        seats = sorted(each.locator("#seat-info").inner_text() for each in pages)
        assert "the green paddle" in seats[0] and "the orange paddle" in seats[1]  # one each
        for each in pages:
            each.locator("#block-continue button").click()
            expect(each.locator("main h1")).to_have_text("Thanks")
    finally:
        for context in contexts:
            context.close()
    participants = list(Participant.objects.filter(study=study))
    assert len(participants) == 2
    episodes = [{link.episode_id for link in p.block_episodes.all()} for p in participants]
    # One game, both of theirs; the block was done with it, so no other game started.
    assert episodes[0] == episodes[1] and len(episodes[0]) == 1
