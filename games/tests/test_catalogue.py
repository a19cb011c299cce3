"""The default catalogue: keys a person would reach for, on each game's real actions."""

from __future__ import annotations

import functools
import io
import re
from typing import Any

import pytest

from games.catalogue import DEFAULT_GAMES, MEANINGS
from games.engine.boards import seated_game
from games.engine.keymap import KeyMap, describe
from games.engine.machines import AtariMachine
from games.engine.registry import BOARD_GAMES

ATARI = [entry for entry in DEFAULT_GAMES if entry["env_id"].startswith("ALE/")]
BY_SLUG = {entry["slug"]: entry for entry in DEFAULT_GAMES}


@functools.cache
def ale_meanings(env_id: str) -> tuple[str, ...]:
    machine = AtariMachine(env_id, {"frameskip": 1, "repeat_action_probability": 0.0})
    try:
        return tuple(machine.action_meanings)
    finally:
        machine.close()


def plays(slug: str, *keys: str) -> str:
    """The action meaning (as ale-py names it) that holding ``keys`` plays in ``slug``."""
    entry = BY_SLUG[slug]
    meanings = MEANINGS[entry["env_id"].removeprefix("ALE/").removesuffix("-v5")]
    keymap = KeyMap(entry["key_map"], default_action=0, n_actions=len(meanings))
    return meanings[keymap.action_for(keys)]


@pytest.mark.parametrize("entry", ATARI, ids=[e["slug"] for e in ATARI])
def test_it_writes_each_key_map_against_the_games_real_actions(entry: dict[str, Any]) -> None:
    env = entry["env_id"].removeprefix("ALE/").removesuffix("-v5")
    assert tuple(MEANINGS[env]) == ale_meanings(entry["env_id"])
    KeyMap(entry["key_map"], default_action=0, n_actions=len(MEANINGS[env]))


def test_it_moves_pongs_paddle_with_up_and_down_as_its_manual_does() -> None:
    # On Pong's joystick actions RIGHT moves the paddle up and LEFT moves it down.
    assert plays("pong", "ArrowUp") == plays("pong", "KeyW") == "RIGHT"
    assert plays("pong", "ArrowDown") == plays("pong", "KeyS") == "LEFT"
    assert plays("pong", "ArrowUp", "ArrowDown") == "NOOP"


def test_it_accelerates_enduro_with_up_and_brakes_with_down() -> None:
    assert plays("enduro", "ArrowUp") == plays("enduro", "Space") == "FIRE"
    assert plays("enduro", "ArrowUp", "ArrowRight") == "RIGHTFIRE"
    assert plays("enduro", "ArrowDown") == "DOWN"


def test_it_hops_qbert_diagonally_with_the_arrows() -> None:
    assert [plays("qbert", key) for key in ("ArrowUp", "ArrowRight", "ArrowDown")] == [
        "UP",
        "RIGHT",
        "DOWN",
    ]
    assert "Space" not in BY_SLUG["qbert"]["key_map"]["keys"]  # fire does nothing in Q*bert


@pytest.mark.parametrize("entry", DEFAULT_GAMES, ids=[e["slug"] for e in DEFAULT_GAMES])
def test_it_says_what_every_key_does_in_each_default_game(entry: dict[str, Any]) -> None:
    controls = describe(entry["key_map"], [])
    assert {code for control in controls for code in control.codes} == set(entry["key_map"]["keys"])
    assert all(control.does == entry["key_map"]["labels"][control.symbol] for control in controls)
    # On-screen buttons for touch screens, or a board whose cells are tapped.
    assert entry["key_map"]["touch"] or entry["key_map"]["board"]["regions"]


@pytest.mark.django_db
def test_it_gives_installed_games_the_catalogues_keys_unless_an_admin_chose_them(
    make_game: Any,
) -> None:
    from django.core.management import call_command

    from games.engine.keymap import atari_key_map
    from games.models import Game

    old = make_game("pong", key_map={})  # installed before the catalogue named keys
    assert old.key_map == atari_key_map(old.action_meanings)  # Left and Right moved the paddle
    own = {"keys": {"KeyI": "UP", "KeyK": "DOWN"}, "combos": {"": 0, "UP": 2, "DOWN": 3}}
    make_game("breakout", key_map=own)
    call_command("load_catalogue", "--dry-run", verbosity=0)
    assert Game.objects.get(slug="pong").key_map == old.key_map

    call_command("load_catalogue", verbosity=0)
    assert Game.objects.get(slug="pong").key_map == BY_SLUG["pong"]["key_map"]
    assert Game.objects.get(slug="breakout").key_map == own


@pytest.mark.parametrize("entry", DEFAULT_GAMES, ids=[e["slug"] for e in DEFAULT_GAMES])
def test_it_leaves_the_keys_out_of_each_games_instructions(entry: dict[str, Any]) -> None:
    # The controls are listed from the key map; prose naming keys could disagree with it.
    named = re.findall(
        r"\b(Space|Enter|Arrow\w*|Up|Down|Left|Right|W A S D)\b", entry["instructions"]
    )
    assert named == []


# --- multi-seat games ------------------------------------------------------------------------

MULTI = [entry for entry in DEFAULT_GAMES if entry["env_id"].startswith("multi/")]


def multi_plays(slug: str, *keys: str) -> str:
    """The action meaning that holding ``keys`` plays in a seat of multi-seat ``slug``."""
    entry = BY_SLUG[slug]
    meanings = seated_game(entry["env_id"].removeprefix("multi/")).action_meanings
    keymap = KeyMap(entry["key_map"], default_action=0, n_actions=len(meanings))
    return meanings[keymap.action_for(keys)]


@pytest.mark.parametrize("entry", MULTI, ids=[e["slug"] for e in MULTI])
def test_it_gives_each_multi_seat_game_a_seat_per_player_with_its_role(
    entry: dict[str, Any],
) -> None:
    game = seated_game(entry["env_id"].removeprefix("multi/"))
    seats = entry["seats"]
    assert [seat["index"] for seat in seats] == list(range(game.seats))
    assert [seat["role"] for seat in seats] == list(game.roles)
    assert any(seat["fill"] != "policy" for seat in seats)  # somebody plays it in a browser
    named = {policy["name"] for policy in entry["policies"]}
    assert {seat["policy"] for seat in seats if seat["policy"]} <= named
    KeyMap(entry["key_map"], default_action=0, n_actions=len(game.action_meanings))


def test_it_moves_both_pong_paddles_with_up_and_down_and_serves_with_space() -> None:
    for slug in ("pong-2p", "pong-vs-ai"):
        assert multi_plays(slug, "ArrowUp") == multi_plays(slug, "KeyW") == "RIGHT"
        assert multi_plays(slug, "ArrowDown") == "LEFT"
        assert multi_plays(slug, "Space") == "FIRE"
        assert multi_plays(slug, "ArrowUp", "Space") == "RIGHTFIRE"


def test_it_boxes_and_plays_tennis_with_the_arrows_and_space() -> None:
    for slug in ("boxing-2p", "tennis-2p"):
        assert multi_plays(slug, "ArrowUp", "ArrowLeft") == "UPLEFT"
        assert multi_plays(slug, "ArrowDown", "ArrowRight", "Space") == "DOWNRIGHTFIRE"


def test_it_moves_the_space_invaders_cannons_left_and_right_and_shoots_with_space() -> None:
    assert multi_plays("space-invaders-2p", "ArrowLeft", "Space") == "LEFTFIRE"
    assert multi_plays("space-invaders-2p", "ArrowUp") == "NOOP"


def test_it_plays_pong_against_the_tracker_in_the_orange_seat() -> None:
    seats = BY_SLUG["pong-vs-ai"]["seats"]
    assert [(seat["fill"], seat["policy"]) for seat in seats] == [
        ("human", None),
        ("policy", "Pong tracker"),
    ]
    assert seats[1]["role"] == "the orange paddle, on the left"


@pytest.mark.parametrize("entry", MULTI, ids=[e["slug"] for e in MULTI])
def test_it_leaves_the_keys_out_of_each_seats_instructions(entry: dict[str, Any]) -> None:
    for seat in entry["seats"]:
        assert (
            re.findall(r"\b(Space|Enter|Arrow\w*|Up|Down|Left|Right)\b", seat["instructions"]) == []
        )


@pytest.mark.django_db
def test_it_installs_the_catalogue_once_however_often_it_is_loaded() -> None:
    from django.core.management import call_command

    from games.models import Game, GameSeat, Policy

    call_command("load_catalogue", verbosity=0)
    counts = (Game.objects.count(), Policy.objects.count(), GameSeat.objects.count())
    out = io.StringIO()
    call_command("load_catalogue", stdout=out)

    assert (Game.objects.count(), Policy.objects.count(), GameSeat.objects.count()) == counts
    boards = [entry for entry in MULTI if entry["env_id"].removeprefix("multi/") in BOARD_GAMES]
    assert len(boards) == 6
    assert counts == (len(DEFAULT_GAMES), 4 + len(boards), 2 * len(MULTI))
    assert "already installed" in out.getvalue()
    game = Game.objects.get(slug="pong-2p")
    assert [seat.policy for seat in game.seats_in_force()] == [game.policies.get()] * 2
    assert Policy.objects.filter(kind="pong-tracker", model="").count() == 2  # no weights


@pytest.mark.django_db
def test_it_gives_an_installed_game_a_built_in_ai_it_lacks(make_game: Any) -> None:
    from django.core.management import call_command

    from games.models import Policy

    game = make_game("tennis-2p")  # installed before the catalogue gave it an AI, say
    entry = BY_SLUG["tennis-2p"]
    entry["policies"] = [{"name": "Random", "kind": "random"}]
    try:
        out = io.StringIO()
        call_command("load_catalogue", "--dry-run", stdout=out)
        assert "Would add 1 AI player(s): tennis-2p: Random" in out.getvalue()
        assert not game.policies.exists()
        call_command("load_catalogue", verbosity=0)
        call_command("load_catalogue", verbosity=0)
    finally:
        entry["policies"] = []
    assert list(Policy.objects.filter(game=game).values_list("kind", flat=True)) == ["random"]
