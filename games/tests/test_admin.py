"""Curating the catalogue in the Django admin."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from games.models import Game, Policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def game_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "title": "Asterix",
        "slug": "asterix",
        "enabled": "on",
        "display_order": "5",
        "short_description": "Collect the cauldrons.",
        "instructions": "",
        "controls": "",
        "env_id": "ALE/Asterix-v5",
        "env_kwargs": "{}",
        "fps": "60",
        "max_steps": "36000",
        "key_map": "{}",
        "default_action": "0",
        "on_leave": "ai",
        "start_countdown": "3",
        # the seats inline: none
        "seats-TOTAL_FORMS": "0",
        "seats-INITIAL_FORMS": "0",
    }
    form.update(overrides)
    return form


def test_it_adds_any_ale_game_without_code(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:games_game_add"), game_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    game = Game.objects.get(slug="asterix")
    assert game.env_kwargs == {
        "frameskip": 1,
        "repeat_action_probability": 0.0,
        "full_action_space": False,
    }
    assert game.action_meanings[0] == "NOOP"
    assert game.frame_shape == [210, 160]
    assert game.keymap().action_for(["ArrowUp", "ArrowRight"]) == game.action_meanings.index(
        "UPRIGHT"
    )
    assert str(game.thumbnail.name).endswith(".png")


def test_it_turns_a_bad_env_id_into_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:games_game_add"), game_form(env_id="ALE/NoSuchGame-v5")
    )
    assert response.status_code == 200
    assert "Gymnasium cannot make" in response.content.decode()
    assert not Game.objects.exists()


def test_it_turns_bad_env_kwargs_into_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:games_game_add"), game_form(env_kwargs='{"no_such_option": 3}')
    )
    assert response.status_code == 200
    assert "kwargs" in response.content.decode()
    assert not Game.objects.exists()


def test_it_refuses_a_key_map_naming_actions_the_game_lacks(admin_client: Client) -> None:
    key_map = '{"keys": {"Space": "FIRE"}, "combos": {"FIRE": 99}}'
    response = admin_client.post(reverse("admin:games_game_add"), game_form(key_map=key_map))
    assert response.status_code == 200
    assert "not an action from 0 to" in response.content.decode()


def test_it_adds_a_gymnasium_env_that_renders_rgb(admin_client: Client) -> None:
    form = game_form(
        title="Hanoi 5",
        slug="hanoi-5",
        env_id="arcade/TowerOfHanoi-v0",
        env_kwargs='{"n_disks": 5}',
        fps="4",
        turn_based="on",
    )
    response = admin_client.post(reverse("admin:games_game_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    game = Game.objects.get(slug="hanoi-5")
    assert game.action_meanings == ["NOOP", "LEFT", "RIGHT", "PICKDROP"]
    assert game.keymap().action_for(["Digit3"]) == 3  # digits, until an admin names keys


def test_it_refuses_an_env_without_a_discrete_action_space(admin_client: Client) -> None:
    form = game_form(title="Pendulum", slug="pendulum", env_id="Pendulum-v1")
    response = admin_client.post(reverse("admin:games_game_add"), form)
    assert response.status_code == 200
    assert "only Discrete can be played" in response.content.decode()


def test_it_lists_the_catalogue_with_thumbnails(admin_client: Client, pong: Any) -> None:
    response = admin_client.get(reverse("admin:games_game_changelist"))
    assert response.status_code == 200
    assert pong.thumbnail.url in response.content.decode()


def test_a_game_added_in_the_admin_starts_disabled(admin_client: Client) -> None:
    add = admin_client.get(reverse("admin:games_game_add")).content.decode()
    assert 'name="enabled"' not in add
    response = admin_client.post(reverse("admin:games_game_add"), game_form(), follow=True)
    game = Game.objects.get(slug="asterix")
    assert game.enabled is False
    assert game not in Game.objects.playable()
    assert "saved disabled, so players do not see it yet" in response.content.decode()
    assert admin_client.get(reverse("games:detail", args=["asterix"])).status_code == 404


def test_the_admin_enables_a_game_once_it_is_checked(admin_client: Client) -> None:
    admin_client.post(reverse("admin:games_game_add"), game_form())
    game = Game.objects.get(slug="asterix")
    change = admin_client.get(reverse("admin:games_game_change", args=[game.pk])).content.decode()
    assert 'name="enabled"' in change
    form = game_form(env_kwargs=json.dumps(game.env_kwargs), key_map=json.dumps(game.key_map))
    response = admin_client.post(reverse("admin:games_game_change", args=[game.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    game.refresh_from_db()
    assert game.enabled is True


def test_the_default_catalogue_loads_enabled(db: Any) -> None:
    from django.core.management import call_command

    call_command("load_catalogue", verbosity=0)
    assert Game.objects.count() and not Game.objects.filter(enabled=False).exists()


# --- seats of multi-seat games ---------------------------------------------------------------


def seat_rows(*seats: dict[str, Any], initial: int = 0) -> dict[str, Any]:
    """The seats inline's POST data: one row per seat given."""
    form: dict[str, Any] = {
        "seats-TOTAL_FORMS": str(len(seats)),
        "seats-INITIAL_FORMS": str(initial),
    }
    for number, seat in enumerate(seats):
        row = {
            "index": str(number),
            "role": "",
            "instructions": "",
            "key_map": "{}",
            "fill": "human",
            "policy": "",
            "human_timeout": "30",
            **seat,
        }
        form.update({f"seats-{number}-{name}": value for name, value in row.items()})
    return form


def duel_form(**overrides: Any) -> dict[str, Any]:
    fields = {"title": "Duel", "slug": "duel", "env_id": "multi/pong", "on_leave": "abandon"}
    return game_form(**{**fields, **overrides})


def test_it_adds_a_multi_seat_game_with_a_person_in_each_seat(admin_client: Client) -> None:
    orange = {"role": "the orange paddle", "instructions": "Guard the goal on the left."}
    form = {**duel_form(), **seat_rows({"role": "the green paddle"}, orange)}

    response = admin_client.post(reverse("admin:games_game_add"), form)

    assert response.status_code == 302, response.content.decode()[:3000]
    game = Game.objects.get(slug="duel")
    assert game.action_meanings == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert [(seat.index, seat.role, seat.fill) for seat in game.seats.all()] == [
        (0, "the green paddle", "human"),
        (1, "the orange paddle", "human"),
    ]
    assert game.config().seats[1].instructions == "Guard the goal on the left."


def test_it_refuses_seats_that_are_not_numbered_as_the_games_players(
    admin_client: Client,
) -> None:
    form = {**duel_form(), **seat_rows({"index": "0"}, {"index": "2"})}

    response = admin_client.post(reverse("admin:games_game_add"), form)

    assert response.status_code == 200
    assert "multi/pong has 2 players: give it one seat for each" in response.content.decode()
    assert not Game.objects.exists()


def test_it_asks_who_takes_over_when_a_person_leaves(admin_client: Client) -> None:
    form = {**duel_form(on_leave="ai"), **seat_rows({}, {})}

    response = admin_client.post(reverse("admin:games_game_add"), form)

    page = response.content.decode()
    assert "but players 1 and 2 have none" in page
    assert not Game.objects.exists()


def test_it_fills_a_seat_with_the_games_own_ai(admin_client: Client, make_game: Any) -> None:
    game = make_game("pong-vs-ai")
    url = reverse("admin:games_game_change", args=[game.pk])
    page = admin_client.get(url).content.decode()
    assert "Pong tracker" in page and "the orange paddle, on the left" in page
    tracker = game.policies.get()
    seats = game.seats.order_by("index")
    form = {
        **game_form(
            title=game.title,
            slug=game.slug,
            env_id=game.env_id,
            env_kwargs=json.dumps(game.env_kwargs),
            key_map=json.dumps(game.key_map),
            on_leave="abandon",
        ),
        **seat_rows(
            {"id": str(seats[0].pk), "game": str(game.pk)},
            {
                "id": str(seats[1].pk),
                "game": str(game.pk),
                "fill": "human_or_policy",
                "policy": str(tracker.pk),
                "human_timeout": "20",
            },
            initial=2,
        ),
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:3000]
    seat = game.seats.get(index=1)
    assert (seat.fill, seat.policy, seat.human_timeout) == ("human_or_policy", tracker, 20)


def test_it_offers_only_the_games_own_ais_for_its_seats(
    admin_client: Client, make_game: Any, pong: Game
) -> None:
    Policy.objects.create(game=pong, name="Pong's own", kind="random")
    game = make_game("pong-2p")

    page = admin_client.get(reverse("admin:games_game_change", args=[game.pk])).content.decode()

    assert "Pong tracker" in page
    assert "Pong&#x27;s own" not in page


def test_it_lists_who_plays_each_game(admin_client: Client, make_game: Any) -> None:
    make_game("pong-vs-ai")

    page = admin_client.get(reverse("admin:games_game_changelist")).content.decode()

    assert "A person · Pong tracker (AI)" in page
