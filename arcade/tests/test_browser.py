"""A person in a real browser: Playwright driving Debian's Chromium against the live stack."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recording.models import Episode

from .conftest import Stack
from .test_integration import wait_finalised

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ARCADE_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a container, with nothing reaching out to the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    # Playwright's sync API keeps an event loop running in this thread, which trips Django's
    # guard against blocking database calls from async code; these tests make none such.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def canvas_pixels(page: Page) -> str:
    return str(page.evaluate("document.getElementById('screen').toDataURL()"))


# The top row of the green paddle on the right of Pong's screen, read off the canvas.
PADDLE_TOP = """() => {
  const canvas = document.getElementById("screen");
  const column = canvas.getContext("2d").getImageData(140, 34, 1, 160).data;
  for (let y = 0; y < 160; y++) {
    const [r, g, b] = column.slice(y * 4, y * 4 + 3);
    if (r === 92 && g === 186 && b === 92) return 34 + y;
  }
  return null;
}"""


def begin(page: Page, *, frames: int = 0) -> None:
    """The play page waits with its first frame up; a key begins, after 3-2-1."""
    state = page.locator("#episode-state")
    expect(state).to_have_attribute("data-state", "standby", timeout=20_000)
    expect(page.locator("#begin-text")).to_contain_text("Press any key (or Start) to begin")
    assert page.evaluate("window.arcadeState.frame") == 0  # nothing stepped yet
    page.locator("#screen").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#countdown")).to_have_text("3")
    expect(page.locator("#begin-text")).to_have_text("Get ready")
    page.wait_for_function(
        f"window.arcadeState.state === 'playing' && window.arcadeState.frame > {frames}",
        timeout=20_000,
    )


def test_it_lets_a_new_player_sign_up_play_pong_and_find_the_episode(
    live_stack: Stack, pong: Any, page: Page, django_db_blocker: Any
) -> None:
    page.goto(live_stack.url + "/")
    page.get_by_role("link", name="Pong").first.click()
    page.locator("#start-button").click()  # anonymous: goes to log in, with a way to sign up
    page.goto(live_stack.url + "/accounts/signup/?next=/games/pong/play/")
    page.fill("input[name=email]", "carol@example.org")
    page.fill("input[name=password1]", "a-long-enough-passphrase")
    page.fill("input[name=password2]", "a-long-enough-passphrase")
    page.locator("#signup-submit").click()
    page.wait_for_url("**/games/pong/play/")

    begin(page, frames=30)
    before = canvas_pixels(page)
    page.locator("#screen").focus()
    page.keyboard.down("ArrowUp")
    page.wait_for_timeout(700)
    page.keyboard.down("ArrowDown")
    page.wait_for_timeout(300)
    page.keyboard.up("ArrowDown")
    page.keyboard.up("ArrowUp")
    page.wait_for_function("window.arcadeState.seq >= 4", timeout=5_000)
    page.wait_for_timeout(300)
    after = canvas_pixels(page)
    assert before != after
    # Keys held when the window loses focus are released: the game must not run on alone.
    held_seq = page.evaluate("window.arcadeState.seq") + 1
    page.keyboard.down("ArrowDown")
    page.wait_for_function(f"window.arcadeState.seq >= {held_seq}", timeout=5_000)
    page.wait_for_timeout(200)
    page.evaluate("window.dispatchEvent(new Event('blur'))")
    page.wait_for_function(f"window.arcadeState.seq > {held_seq}", timeout=5_000)
    released_seq = page.evaluate("window.arcadeState.seq")
    page.wait_for_timeout(300)
    state = page.evaluate("({...window.arcadeState})")
    assert state["framesDrawn"] > 60
    assert state["episode"]
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "playing")

    page.get_by_role("link", name="My episodes").click()  # leaving the game abandons it
    row = page.locator(f"#episodes [data-episode='{state['episode']}']")
    expect(row).to_be_visible()
    with django_db_blocker.unblock():
        episode = wait_finalised(state["episode"])
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert episode.user.email == "carol@example.org"
    assert episode.transitions.filter(input_seq__gte=1).exists()
    meanings = pong.action_meanings
    held = {
        meanings[a]
        for a in episode.transitions.filter(input_seq=held_seq).values_list("action", flat=True)
    }
    released = {
        meanings[a]
        for a in episode.transitions.filter(input_seq=released_seq).values_list("action", flat=True)
    }
    assert held == {"LEFT"}
    assert released == {"NOOP"}
    page.reload()
    expect(row).to_contain_text("Complete")
    assert Episode.objects.filter(user__email="carol@example.org").count() == 1


def play_pong_as(user: Any, live_stack: Stack, page: Page, blocker: Any, *, frames: int) -> None:
    """Logged in as ``user``, the play page of Pong, once it has drawn ``frames`` frames."""
    with blocker.unblock():
        cookie = live_stack.session_cookie(user)
    page.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_stack.url}])
    page.goto(live_stack.url + "/games/pong/play/")
    begin(page, frames=frames)


def test_it_moves_pongs_paddle_up_and_down_with_the_up_and_down_keys(
    live_stack: Stack, pong: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    play_pong_as(alice, live_stack, page, django_db_blocker, frames=30)
    start = page.evaluate(PADDLE_TOP)
    assert start is not None and start > 60  # the paddle starts mid-court
    page.keyboard.down("ArrowUp")
    page.wait_for_function(f"({PADDLE_TOP})() < {start - 20}", timeout=5_000)
    page.keyboard.up("ArrowUp")
    top = page.evaluate(PADDLE_TOP)
    page.keyboard.down("ArrowDown")
    page.wait_for_function(f"({PADDLE_TOP})() > {top + 40}", timeout=5_000)
    page.keyboard.up("ArrowDown")
    page.keyboard.down("KeyW")
    low = page.evaluate(PADDLE_TOP)
    page.wait_for_function(f"({PADDLE_TOP})() < {low - 20}", timeout=5_000)
    page.keyboard.up("KeyW")


@pytest.mark.stack_env(ARCADE_RECONNECT_GRACE_SECONDS="20")
def test_it_resumes_the_same_game_after_a_reload(
    live_stack: Stack, pong: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    play_pong_as(alice, live_stack, page, django_db_blocker, frames=30)
    before = page.evaluate("({...window.arcadeState})")

    page.reload()
    page.wait_for_function(
        f"window.arcadeState && window.arcadeState.episode === {before['episode']!r}"
        f" && window.arcadeState.frame > {before['frame']} && window.arcadeState.framesDrawn > 10",
        timeout=20_000,
    )
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "playing")
    with django_db_blocker.unblock():
        assert list(Episode.objects.filter(user=alice).values_list("pk", flat=True)) == [
            uuid.UUID(before["episode"])
        ]


def test_it_shows_the_player_that_the_game_they_left_is_saved_and_verified(
    live_stack: Stack, pong: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    play_pong_as(alice, live_stack, page, django_db_blocker, frames=60)
    first = page.evaluate("window.arcadeState.episode")

    page.locator("#new-game").click()  # the first game ends; a worker stores and checks it

    saved = page.locator("#saved")
    expect(saved).to_have_attribute("data-episode", first, timeout=30_000)
    expect(saved).to_contain_text("is saved; the replay matches every frame")
    expect(saved.get_by_role("link", name="My episodes")).to_have_attribute("href", "/me/episodes/")
    assert page.evaluate("window.arcadeState.episode") != first  # playing the new one meanwhile


def open_play_page(user: Any, live_stack: Stack, page: Page, blocker: Any, slug: str) -> None:
    with blocker.unblock():
        cookie = live_stack.session_cookie(user)
    page.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_stack.url}])
    page.goto(live_stack.url + f"/games/{slug}/play/")


def test_it_keeps_the_keys_until_the_game_over_screen_is_up(
    live_stack: Stack, make_game: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        make_game("breakout", max_steps=90)
    open_play_page(alice, live_stack, page, django_db_blocker, "breakout")
    # The moment the last frame says "over", before the summary comes: would Space scroll?
    page.evaluate(
        """() => {
          window.spaceAtGameOver = null;
          new MutationObserver(() => {
            if (window.arcadeState.state !== "over" || window.spaceAtGameOver) return;
            const space = new KeyboardEvent("keydown", {code: "Space", key: " ", cancelable: true});
            window.dispatchEvent(space);
            window.spaceAtGameOver = {
              captured: space.defaultPrevented,
              summaryUp: !document.getElementById("summary").hidden,
            };
          }).observe(document.getElementById("episode-state"), {attributes: true});
        }"""
    )
    begin(page)
    expect(page.locator("#summary")).to_contain_text("Time's up", timeout=20_000)
    assert page.evaluate("window.spaceAtGameOver") == {"captured": True, "summaryUp": False}
    expect(page.locator("#episode-state")).to_have_text("time's up")
    expect(page.locator("#new-game")).to_be_focused()


def set_visibility(page: Page, state: str) -> None:
    """As when the player switches tabs: headless Chromium's one tab never is hidden."""
    page.evaluate(
        """(state) => {
          Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_it_pauses_while_the_tab_is_hidden_and_records_the_pause(
    live_stack: Stack, pong: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    play_pong_as(alice, live_stack, page, django_db_blocker, frames=30)
    set_visibility(page, "hidden")
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "paused")
    expect(page.locator("#begin-text")).to_contain_text("Paused while this tab was hidden")
    page.wait_for_timeout(300)  # frames in flight when the tab was hidden are drawn
    paused_at = page.evaluate("window.arcadeState.frame")
    page.wait_for_timeout(700)
    assert page.evaluate("window.arcadeState.frame") == paused_at  # the game stood still
    set_visibility(page, "visible")
    page.keyboard.press("Enter")
    expect(page.locator("#countdown")).to_have_text("3")
    page.wait_for_function(f"window.arcadeState.frame > {paused_at + 10}", timeout=20_000)
    episode_id = page.evaluate("window.arcadeState.episode")
    page.goto(live_stack.url + "/me/episodes/")  # leaving ends the game
    with django_db_blocker.unblock():
        episode = wait_finalised(episode_id)
    [pause] = episode.pauses
    assert pause["why"] == "hidden" and pause["step"] <= paused_at
    assert pause["seconds"] >= 1.0  # hidden, then 3-2-1


def hanoi_keys(moves: list[tuple[int, int]]) -> list[str]:
    """The key presses that make these (from peg, to peg) moves, the cursor starting on peg 0."""
    keys, cursor = [], 0
    for start, end in moves:
        for peg in (start, end):
            keys += ["ArrowRight"] * ((peg - cursor) % 3)
            keys.append("Space")
            cursor = peg
    return keys


def test_it_counts_the_moves_of_the_tower_of_hanoi_and_says_how_well_it_was_solved(
    live_stack: Stack, hanoi: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    open_play_page(alice, live_stack, page, django_db_blocker, "tower-of-hanoi")
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "playing")
    for hidden in ("#lives", "#fps", "#latency"):  # nothing they could mean in a puzzle
        expect(page.locator(hidden)).to_have_count(0)
    page.locator("#screen").focus()
    # An illegal drop first: disk 1 to peg 1, then disk 2 onto it.
    for key in [*hanoi_keys([(0, 1)]), "ArrowLeft", "Space", "ArrowRight", "Space"]:
        page.keyboard.press(key)
    expect(page.locator("#error")).to_contain_text("not allowed")
    expect(page.locator("#moves")).to_have_text("1")
    # Disk 2 back where it came from (free), disk 1 back to peg 0: two moves, then the 7.
    for key in ["ArrowLeft", "Space", "ArrowRight", "Space", "ArrowLeft", "Space"]:
        page.keyboard.press(key)
    expect(page.locator("#moves")).to_have_text("2")
    solution = [(0, 2), (0, 1), (2, 1), (0, 2), (1, 0), (1, 2), (0, 2)]
    for key in hanoi_keys(solution):
        page.keyboard.press(key)
    expect(page.locator("#summary")).to_have_text(
        "Solved in 9 moves (best possible 7).", timeout=10_000
    )
    expect(page.locator("#episode-state")).to_have_text("game over")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone: a narrow touch screen and no keyboard or mouse."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    yield page
    context.close()


def touch_hold(page: Page, selector: str) -> Any:
    """Put a finger on the element, as a touch screen does; returns the finger's CDP session."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    assert box is not None
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    return cdp


def test_it_plays_pong_on_a_phone_with_on_screen_buttons_on_a_screen_wide_canvas(
    live_stack: Stack, pong: Any, alice: Any, phone: Page, django_db_blocker: Any
) -> None:
    open_play_page(alice, live_stack, phone, django_db_blocker, "pong")
    expect(phone.locator("#episode-state")).to_have_attribute("data-state", "standby")
    expect(phone.locator("#begin-text")).to_have_text("Press Start to begin")
    expect(phone.locator("#pad")).to_be_visible()
    canvas = phone.locator("#screen").bounding_box()
    stage = phone.locator("#stage").bounding_box()
    assert canvas is not None and stage is not None
    assert canvas["width"] >= stage["width"] - 1 and canvas["width"] > 300  # the screen's width

    phone.locator("#begin-button").tap()
    phone.wait_for_function("window.arcadeState.state === 'playing'", timeout=10_000)
    phone.wait_for_function("window.arcadeState.frame > 30", timeout=10_000)
    start = phone.evaluate(PADDLE_TOP)
    finger = touch_hold(phone, ".pad-up")
    phone.wait_for_function(f"({PADDLE_TOP})() < {start - 20}", timeout=5_000)
    finger.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    with django_db_blocker.unblock():
        assert Episode.objects.filter(user=alice).count() == 1


def test_it_says_a_keyboard_is_needed_on_a_phone_and_records_nothing_there(
    live_stack: Stack, make_game: Any, alice: Any, phone: Page, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        make_game("breakout", key_map={})  # an admin's game: derived keys, no on-screen ones
    open_play_page(alice, live_stack, phone, django_db_blocker, "breakout")
    expect(phone.locator("#episode-state")).to_have_attribute("data-state", "keyboard")
    expect(phone.locator("#keyboard-needed")).to_contain_text("played with a keyboard")
    expect(phone.locator("#new-game")).to_be_disabled()
    expect(phone.locator("#pad")).to_have_count(0)
    with django_db_blocker.unblock():
        assert not Episode.objects.filter(user=alice).exists()


@pytest.fixture
def people(browser: Browser, live_stack: Stack, django_db_blocker: Any) -> Iterator[Any]:
    """Each call: a page in a browser of its own (its own cookies), signed in as ``user``."""
    contexts = []

    def signed_in(user: Any) -> Page:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        contexts.append(context)
        with django_db_blocker.unblock():
            cookie = live_stack.session_cookie(user)
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_stack.url}])
        page = context.new_page()
        # Every message the page sends on its socket, for the spectator's page to show none.
        page.add_init_script(
            """(() => {
              window.sentMessages = [];
              const send = WebSocket.prototype.send;
              WebSocket.prototype.send = function (data) {
                window.sentMessages.push(JSON.parse(data).type);
                return send.call(this, data);
              };
            })()"""
        )
        return page

    yield signed_in
    for context in contexts:
        context.close()


def record_states(page: Page) -> None:
    """From now on, ``window.states`` lists the states the page went through, and
    ``window.pausedSaid`` what the stage said each time it paused."""
    page.evaluate(
        """() => {
          const state = document.getElementById("episode-state");
          window.states = [state.dataset.state];
          window.pausedSaid = [];
          new MutationObserver(() => {
            const now = state.dataset.state;
            if (window.states.at(-1) !== now) window.states.push(now);
            if (now === "paused") {
              window.pausedSaid.push(document.getElementById("begin-text").textContent);
            }
          }).observe(state, {attributes: true, attributeFilter: ["data-state"]});
        }"""
    )


def playing(page: Page, *, after_frame: int = 30) -> None:
    page.wait_for_function(
        f"window.arcadeState.state === 'playing' && window.arcadeState.frame > {after_frame}",
        timeout=20_000,
    )


def test_it_matches_two_people_for_pong_and_lets_staff_watch_them_play(
    live_stack: Stack,
    make_game: Any,
    alice: Any,
    bob: Any,
    staff: Any,
    people: Any,
    django_db_blocker: Any,
) -> None:
    with django_db_blocker.unblock():
        make_game("pong-2p", max_steps=7200, start_countdown=0)
    first, second = people(alice), people(bob)
    first.goto(live_stack.url + "/games/pong-2p/play/")
    expect(first.locator("#episode-state")).to_have_attribute("data-state", "waiting")
    expect(first.locator("#lobby-text")).to_have_text(
        "Waiting for another player… (1 of 2 seats taken)"
    )
    expect(first.locator("#lobby-seats li")).to_have_text(
        [
            f"Seat 1, the green paddle, on the right: you ({alice.public_name})",
            "Seat 2, the orange paddle, on the left: open",
        ]
    )
    expect(first.locator("#seat-info")).to_have_text(
        "You are the green paddle, on the right. Return the ball past the orange paddle."
        " When the ball comes back to you after a point, serve it within two seconds."
    )
    first.screenshot(path="/tmp/e2e-waiting.png")
    record_states(first)

    second.goto(live_stack.url + "/games/pong-2p/play/")
    playing(first)
    playing(second)
    for page in (first, second):
        expect(page.locator("#lobby")).to_be_hidden()
        expect(page.locator("#episode-state")).to_have_attribute("data-state", "playing")
    expect(second.locator("#seat-info")).to_contain_text("You are the orange paddle, on the left.")
    # Everyone is here: the room starts (at once, its countdown is 0), then the game.
    assert first.evaluate("window.states") == ["waiting", "starting", "playing"]
    episode = first.evaluate("window.arcadeState.episode")
    assert second.evaluate("window.arcadeState.episode") == episode

    # Alice holds Up: her paddle (the green one) rises, on her screen and on Bob's.
    start = first.evaluate(PADDLE_TOP)
    assert start is not None and start > 60
    first.locator("#screen").focus()
    first.keyboard.down("ArrowUp")
    first.wait_for_function(f"({PADDLE_TOP})() < {start - 20}", timeout=5_000)
    second.wait_for_function(f"({PADDLE_TOP})() < {start - 20}", timeout=5_000)
    first.keyboard.up("ArrowUp")
    first.screenshot(path="/tmp/e2e-playing-alice.png")
    second.screenshot(path="/tmp/e2e-playing-bob.png")

    # Staff find the game among the live ones in the admin, and watch it.
    spectator = people(staff)
    responses: list[Response] = []
    spectator.on("response", lambda response: responses.append(response))
    spectator.goto(live_stack.url + "/admin/recording/episode/?live=yes")
    # The admin's pages have the site's icon, and so has /favicon.ico, which browsers ask for.
    icons = spectator.evaluate(
        """() => Promise.all(
          [document.querySelector("link[rel=icon]").href, "/favicon.ico"].map(
            (url) => fetch(url).then((response) => [response.status, response.url])
          )
        )"""
    )
    assert icons == [[200, live_stack.url + "/static/favicon.svg"]] * 2
    spectator.get_by_role("link", name="Watch").click()
    spectator.wait_for_url(f"**/watch/{episode}/")
    spectator.wait_for_function(
        "window.arcadeState.state === 'watching' && window.arcadeState.framesDrawn > 30",
        timeout=20_000,
    )
    expect(spectator.locator("#episode-state")).to_have_text("watching")
    expect(spectator.locator("#play")).to_contain_text(
        "You are watching: nothing you press is played."
        f" Player 1, the green paddle, on the right: {alice.public_name}."
        f" Player 2, the orange paddle, on the left: {bob.public_name}."
    )
    # Both sides' points, seat by seat, as the game's screen counts them: not the first's alone.
    expect(spectator.locator(".status-bar dt")).to_have_text(
        ["Player 1", "Player 2", "Lives", "FPS", "State"]
    )
    spectator.wait_for_function(
        "(window.arcadeState.seatScores?.points ?? []).some((points) => points > 0)",
        timeout=20_000,
    )
    shown, points = spectator.evaluate(
        """() => [
          [...document.querySelectorAll("[data-seat-score]")].map((score) => score.textContent),
          window.arcadeState.seatScores.points,
        ]"""
    )
    assert shown == [f"{points:g}" for points in points]
    # Alice holds Down: the spectator sees her paddle go down; the spectator's own keys do nothing.
    top = spectator.evaluate(PADDLE_TOP)
    assert top is not None
    first.keyboard.down("ArrowDown")
    spectator.wait_for_function(f"({PADDLE_TOP})() > {top + 20}", timeout=5_000)
    first.keyboard.up("ArrowDown")
    spectator.locator("#screen").focus()
    for key in ("ArrowUp", "ArrowDown", "Space", "Enter"):
        spectator.keyboard.press(key)
    seen = spectator.evaluate("window.arcadeState.frame")
    spectator.wait_for_function(f"window.arcadeState.frame > {seen + 30}", timeout=5_000)
    spectator.screenshot(path="/tmp/e2e-watching.png")
    # The spectator's page only paced its frames: it sent no keys, nor anything else.
    assert set(spectator.evaluate("window.sentMessages")) <= {"ack", "ping", "keyframe"}
    assert spectator.evaluate("window.arcadeState.seq") == 0
    expect(spectator.locator("#error")).to_have_text("")
    assert [r.url for r in responses if r.status == 404] == []  # nothing any page asked for


@pytest.mark.stack_pinned
def test_it_seats_an_agent_from_the_other_web_process_against_a_person_in_the_browser(
    live_stack: Stack, make_game: Any, alice: Any, bob: Any, people: Any, django_db_blocker: Any
) -> None:
    from arcade_client import Client

    from agents import services
    from recording.models import EpisodeSeat

    with django_db_blocker.unblock():
        make_game("pong-2p", max_steps=600, start_countdown=0)
        _, token = services.issue(bob, "browser duel")
    person = people(alice)
    person.goto(live_stack.urls[0] + "/games/pong-2p/play/")
    expect(person.locator("#lobby-text")).to_have_text(
        "Waiting for another player… (1 of 2 seats taken)"
    )
    # Bob's agent asks the other web process for a seat: the waiting room is this one's, so
    # its seat is held here for it, and each of its steps is a round trip between the two.
    played: dict[str, Any] = {}

    def agent() -> None:
        try:
            with Client(live_stack.urls[1], token, timeout=120) as client:
                first = client.reset(game_name="pong-2p", agent_name="tracker", obs_type="ram")
                played["state"] = client.state()
                steps, seen = 0, first
                while not seen.done:
                    seen = client.step(2 if (steps // 20) % 2 else 3)  # up and down by turns
                    steps += 1
                played.update(first=first, last=seen, steps=steps)
        except BaseException as exc:  # the test's thread says what went wrong
            played["error"] = exc

    thread = threading.Thread(target=agent)
    thread.start()
    playing(person)
    expect(person.locator("#seat-info")).to_contain_text("You are the green paddle, on the right.")
    start = person.evaluate(PADDLE_TOP)
    assert start is not None
    person.locator("#screen").focus()
    person.keyboard.down("ArrowUp")
    person.wait_for_function(f"({PADDLE_TOP})() < {start - 20}", timeout=5_000)
    person.keyboard.up("ArrowUp")
    person.screenshot(path="/tmp/e2e-agent-duel.png")
    thread.join(timeout=90)
    assert "error" not in played, played.get("error")
    assert played["state"].data["seat"] == 1 and played["last"].truncated
    episode_id = person.evaluate("window.arcadeState.episode")
    assert played["state"].episode_id == episode_id
    expect(person.locator("#episode-state")).to_have_attribute("data-state", "over", timeout=30_000)
    with django_db_blocker.unblock():
        episode = wait_finalised(episode_id, timeout=60)
        assert (episode.steps, episode.verification) == (600, "verified")
        seats = list(EpisodeSeat.objects.filter(episode=episode).order_by("index"))
        assert [(s.kind, s.user_id) for s in seats] == [("human", alice.pk), ("agent", bob.pk)]
        assert episode.context["agent"]["name"] == "tracker"
    # The agent was answered a frame for every step it asked, until the game ended for both.
    assert 0 < played["steps"] <= 600


def test_it_lets_a_player_who_left_the_waiting_room_wait_again(
    live_stack: Stack, make_game: Any, alice: Any, people: Any, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        make_game("pong-2p", start_countdown=0)
    page = people(alice)
    page.goto(live_stack.url + "/games/pong-2p/play/")
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "waiting")

    page.locator("#leave").click()
    expect(page.locator("#summary")).to_have_text(
        "You left the waiting room. Press Play again to wait for a game."
    )
    expect(page.locator("#seat-info")).to_be_hidden()  # the seat is not hers any more
    page.locator("#new-game").click()  # it was left disabled: nothing to press
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "waiting")
    expect(page.locator("#lobby-text")).to_contain_text("(1 of 2 seats taken)")


@pytest.mark.stack_env(ARCADE_RECONNECT_GRACE_SECONDS="20")
def test_it_gives_a_player_who_reloads_mid_game_their_seat_back_without_a_play_again(
    live_stack: Stack,
    make_game: Any,
    alice: Any,
    bob: Any,
    people: Any,
    django_db_blocker: Any,
) -> None:
    with django_db_blocker.unblock():
        make_game("pong-2p", max_steps=7200, start_countdown=0)
    first, second = people(alice), people(bob)
    first.goto(live_stack.url + "/games/pong-2p/play/")
    expect(first.locator("#episode-state")).to_have_attribute("data-state", "waiting")
    second.goto(live_stack.url + "/games/pong-2p/play/")
    playing(first)
    playing(second)
    episode = second.evaluate("window.arcadeState.episode")
    record_states(first)

    second.reload()
    playing(second, after_frame=first.evaluate("window.arcadeState.frame"))
    assert second.evaluate("window.arcadeState.episode") == episode
    # Play again mid-game would walk out of it: it is for after the game, as before the reload.
    expect(second.locator("#new-game")).to_be_disabled()
    # Bob is told he is back in the game, not that "Player … is back"; Alice is.
    expect(second.locator("#error")).to_have_text("Reconnected: the game goes on.")
    expect(first.locator("#error")).to_have_text(f"{bob.public_name} is back")
    for page in (first, second):
        expect(page.locator("#error")).to_have_class("error notice")  # news, not a fault
    # While Bob was gone, Alice's game stood still, and her page said so and why.
    playing(first, after_frame=first.evaluate("window.arcadeState.frame"))
    assert first.evaluate("window.states") == ["playing", "paused", "playing"]
    assert first.evaluate("window.pausedSaid") == [
        f"Paused: {bob.public_name} lost their connection; waiting 20 s for them to come back."
    ]
    expect(first.locator("#begin")).to_be_hidden()


def test_it_tells_a_spectator_of_a_game_that_has_ended_there_is_nothing_to_watch(
    live_stack: Stack, pong: Any, alice: Any, staff: Any, people: Any, django_db_blocker: Any
) -> None:
    from recording.tests.helpers import record_episode

    with django_db_blocker.unblock():
        episode, _ = record_episode(user=alice, game=pong, steps=10)
    page = people(staff)

    page.goto(live_stack.url + f"/watch/{episode.pk}/")

    expect(page.locator("#error")).to_have_text(
        "This game is not being played now (it has ended), so there is nothing to watch."
    )
    expect(page.locator("#episode-state")).to_have_text("not live")
    expect(page.locator("#reconnect")).to_be_hidden()  # reconnecting cannot bring it back


def test_it_says_a_second_tab_of_a_player_seated_in_a_game_is_not_starting_anything(
    live_stack: Stack, make_game: Any, alice: Any, people: Any, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        make_game("pong-2p", start_countdown=0)
    first = people(alice)
    first.goto(live_stack.url + "/games/pong-2p/play/")
    expect(first.locator("#episode-state")).to_have_attribute("data-state", "waiting")
    second = first.context.new_page()

    second.goto(live_stack.url + "/games/pong-2p/play/")

    expect(second.locator("#error")).to_have_text(
        "You already hold a seat in this game (another tab?)."
    )
    expect(second.locator("#episode-state")).to_have_text(
        "playing in another tab"
    )  # not "starting"
    expect(first.locator("#episode-state")).to_have_attribute("data-state", "waiting")


# Connect four's frame (games/engine/boards.py): columns of 32 pixels from x = 8, rows of 32
# from y = 16, six rows; the seat to move's colour in the strip along the top.
C4_COLUMN_X = [8 + 32 * column + 16 for column in range(7)]
C4_BOTTOM_Y = 16 + 5 * 32 + 16
RED = [230, 57, 70]


def canvas_pixel(page: Page, x: int, y: int) -> list[int]:
    return list(
        page.evaluate(
            f"Array.from(document.getElementById('screen').getContext('2d')"
            f".getImageData({x}, {y}, 1, 1).data.slice(0, 3))"
        )
    )


def click_column(page: Page, column: int) -> None:
    """A click on the column, where the page shows it (the canvas is scaled)."""
    scale = page.evaluate("document.getElementById('screen').clientWidth / 240")
    page.locator("#screen").click(position={"x": C4_COLUMN_X[column] * scale, "y": 100 * scale})


def test_it_lets_a_person_play_connect_four_against_the_board_player_by_click_and_keyboard(
    live_stack: Stack, make_game: Any, alice: Any, page: Page, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        make_game("connect-four", start_countdown=0)
    open_play_page(alice, live_stack, page, django_db_blocker, "connect-four")
    page.wait_for_function(
        "window.arcadeState.state === 'playing' && window.arcadeState.framesDrawn > 0",
        timeout=20_000,
    )
    expect(page.locator("#seat-info")).to_contain_text("You are red.")
    assert canvas_pixel(page, 120, 2) == RED  # the strip: red to move

    click_column(page, 3)  # Alice's disc drops to the bottom of column 4; the AI answers
    page.wait_for_function("window.arcadeState.frame >= 2", timeout=10_000)
    assert canvas_pixel(page, C4_COLUMN_X[3], C4_BOTTOM_Y) == RED
    expect(page.locator("#board-cursor")).to_be_visible()
    assert page.evaluate("window.arcadeState.boardCursor") == 3

    page.screenshot(path="/tmp/e2e-connect-four-cursor.png")
    page.keyboard.press("ArrowLeft")  # the cursor to column 3, and Enter plays there
    assert page.evaluate("window.arcadeState.boardCursor") == 2
    page.keyboard.press("Enter")
    page.wait_for_function("window.arcadeState.frame >= 4", timeout=10_000)
    assert canvas_pixel(page, C4_COLUMN_X[2], C4_BOTTOM_Y) == RED or (
        canvas_pixel(page, C4_COLUMN_X[2], C4_BOTTOM_Y - 32) == RED
    )

    # Then clicks, column after column, until the game ends; a full column is refused and
    # the next one tried. Alice moves on even steps (a refused move is not a step).
    column = 0
    for _ in range(200):
        state = page.evaluate("({...window.arcadeState})")
        if state["state"] != "playing":
            break
        if state["frame"] % 2 == 0:
            click_column(page, column)
            column = (column + 1) % 7
        with contextlib.suppress(PlaywrightTimeout):  # refused (a full column): nothing moved
            page.wait_for_function(
                f"window.arcadeState.frame > {state['frame']}"
                " || window.arcadeState.state !== 'playing'",
                timeout=3_000,
            )
    expect(page.locator("#episode-state")).to_have_attribute("data-state", "over")
    page.screenshot(path="/tmp/e2e-connect-four.png")
    episode = page.evaluate("window.arcadeState.episode")
    with django_db_blocker.unblock():
        stored = wait_finalised(episode)
        assert stored.verification == Episode.Verification.VERIFIED, stored.verification_detail
        assert stored.steps == page.evaluate("window.arcadeState.frame")
