"""The admin's playback in a real browser: Playwright driving Debian's Chromium."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from arcade.tests.test_browser import browser, page  # noqa: F401  the Chromium fixtures
from recording.frames import episode_frame_rgb

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def canvas_rgb(tab: Page) -> np.ndarray:
    data = tab.evaluate(
        "(() => { const c = document.getElementById('playback');"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); })()"
    )
    return np.asarray(data, np.uint8).reshape(210, 160, 4)[..., :3]


def shows(tab: Page, frame: np.ndarray, timeout: float = 5.0) -> bool:
    """Whether the canvas comes to show exactly this frame (its chunk's strip may be loading)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if np.array_equal(canvas_rgb(tab), frame):
            return True
        tab.wait_for_timeout(50)
    return False


def test_it_plays_pauses_and_steps_through_the_stored_frames(
    page: Page,  # noqa: F811
    live_server: Any,
    alice: Any,
    pong: Any,
    recorded: Any,
) -> None:
    from accounts.models import User

    episode = recorded(user=alice, game=pong, steps=70)
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/admin/recording/episode/{episode.pk}/play/")
    shown = page.locator("#shown")
    expect(shown).to_have_text("0")
    page.wait_for_function(
        "document.getElementById('playback').getContext('2d')"
        ".getImageData(0, 0, 160, 210).data.some(v => v > 0)"
    )
    assert np.array_equal(canvas_rgb(page), episode_frame_rgb(episode=episode, number=0))

    page.click("#step")
    expect(shown).to_have_text("1")
    page.click("#play")
    expect(page.locator("#play")).to_have_text("Pause")
    expect(shown).to_have_text("70", timeout=10_000)  # the end: it pauses itself
    expect(page.locator("#play")).to_have_text("Play")
    assert shows(page, episode_frame_rgb(episode=episode, number=70))
    page.click("#step-back")
    expect(shown).to_have_text("69")


def test_its_flicker_filter_shows_the_maximum_of_each_frame_and_the_one_before(
    page: Page,  # noqa: F811
    live_server: Any,
    alice: Any,
    pong: Any,
    recorded: Any,
) -> None:
    from accounts.models import User

    episode = recorded(user=alice, game=pong, steps=70)
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/admin/recording/episode/{episode.pk}/play/")
    frame = [episode_frame_rgb(episode=episode, number=n) for n in range(71)]

    def filtered(n: int) -> np.ndarray:
        return np.maximum(frame[n - 1], frame[n])

    # A frame whose filtered picture differs from it, and so does the next one's; a chunk's
    # first frame (25, 50) if one qualifies, so the frame before comes from another strip.
    changing = [
        n
        for n in (25, 50, *range(1, 70))
        if not np.array_equal(filtered(n), frame[n])
        and not np.array_equal(filtered(n + 1), frame[n + 1])
    ]
    n = changing[0]
    page.locator("#seek").fill(str(n))
    assert shows(page, frame[n])

    page.check("#flicker")

    assert shows(page, filtered(n))
    page.click("#step")
    assert shows(page, filtered(n + 1))
    page.uncheck("#flicker")
    assert shows(page, frame[n + 1])
