"""The player's pages: library, game page, play view."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def squash(page: str) -> str:
    """The page with each run of white space as one space, as a browser shows it."""
    return re.sub(r"\s+", " ", page)


def test_it_shows_the_library_to_everyone(client: Client, pong: Any, hanoi: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pong" in page and "Tower of Hanoi" in page
    assert pong.thumbnail.url in page


def test_it_hides_disabled_games(client: Client, pong: Any) -> None:
    pong.enabled = False
    pong.save()
    assert "Pong" not in client.get("/").content.decode()
    assert client.get("/games/pong/").status_code == 404


def test_it_shows_instructions_and_start(client: Client, pong: Any) -> None:
    page = client.get("/games/pong/").content.decode()
    assert "first to 21 wins" in page.lower()
    assert 'id="start-button"' in page


def test_it_sends_anonymous_players_to_log_in_before_play(client: Client, pong: Any) -> None:
    response = client.get("/games/pong/play/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_serves_the_play_view_with_its_socket_path(
    client: Client, pong: Any, alice: Any
) -> None:
    client.force_login(alice)
    page = client.get("/games/pong/play/").content.decode()
    assert 'data-ws-path="/ws/play/pong/"' in page
    assert 'id="screen"' in page


def test_it_signs_up_with_an_email_and_logs_in(client: Client, pong: Any) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "Dora@Example.org",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
            "next": "/games/pong/play/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/games/pong/play/"
    assert client.get("/games/pong/play/").status_code == 200


def test_it_refuses_a_second_account_for_one_email(client: Client, alice: Any) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "ALICE@example.org",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert response.status_code == 200
    assert "log in instead" in response.content.decode()


def test_it_lists_the_controls_of_the_key_map_in_force(
    client: Client, pong: Any, alice: Any
) -> None:
    client.force_login(alice)
    for url in ("/games/pong/", "/games/pong/play/"):
        page = squash(client.get(url).content.decode())
        assert "<kbd>↑</kbd> or <kbd>W</kbd></dt> <dd>paddle up</dd>" in page, url
        assert "<kbd>↓</kbd> or <kbd>S</kbd></dt> <dd>paddle down</dd>" in page, url
        assert "Arrow keys or W A S D" not in page


def test_it_shows_the_derived_controls_of_a_game_added_with_an_empty_key_map(
    client: Client, make_game: Any
) -> None:
    make_game("breakout", key_map={}, controls="")
    page = squash(client.get("/games/breakout/").content.decode())
    assert "<kbd>Space</kbd></dt> <dd>fire</dd>" in page
    assert "<kbd>←</kbd> or <kbd>A</kbd></dt> <dd>left</dd>" in page


def test_it_shows_who_plays_each_seat_of_a_multi_seat_game(client: Client, make_game: Any) -> None:
    make_game("pong-2p")

    page = squash(client.get("/games/pong-2p/").content.decode())

    assert "2 players, each on a screen of their own" in page
    assert "<h3>Player 1: the green paddle, on the right</h3>" in page
    assert "<h3>Player 2: the orange paddle, on the left</h3>" in page
    assert "Played by: A person, or Pong tracker (AI) if nobody joins within 30 s" in page
    assert "You are the orange paddle, on the left." in page
    assert page.count("<kbd>Space</kbd></dt> <dd>serve</dd>") == 2  # each seat's keys
    assert "an AI takes over their seat" in page


def test_it_shows_the_ai_opponents_seat_without_keys(client: Client, make_game: Any) -> None:
    make_game("pong-vs-ai")

    page = squash(client.get("/games/pong-vs-ai/").content.decode())

    assert "Played by: Pong tracker (AI)" in page
    assert page.count("<dd>paddle up</dd>") == 1  # only the person's seat lists keys
    assert "the game ends" in page


def test_it_keeps_a_one_player_games_controls_as_they_were(client: Client, pong: Any) -> None:
    page = client.get("/games/pong/").content.decode()
    assert 'id="controls"' in page and 'id="seats"' not in page


def test_it_tells_how_to_play_a_board_game_by_click_and_cursor_without_click_only_codes(
    client: Client, make_game: Any, alice: Any
) -> None:
    make_game("quarto")
    detail = squash(client.get("/games/quarto/").content.decode())
    assert "click where you want to play" in detail.lower()
    assert "Move16" not in detail and "Keys are held" not in detail
    client.force_login(alice)
    page = client.get("/games/quarto/play/").content.decode()
    regions = re.search(r'<script id="board-regions" type="application/json">(.*?)</script>', page)
    assert regions is not None and '"Move31"' in regions.group(1)
    assert 'id="board-cursor"' in page and "Move16" not in page.split("board-regions")[0]
