"""A game's seats: who each player is, who fills the seat, and what the live match is told."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from games.engine.machines import SeatConfig, build_machine, is_multi_machine
from games.engine.policies import PongTracker, RandomPolicy
from games.models import Game, GameSeat, Policy
from games.services import env_inspect, game_prepare, game_seats_check, policy_build

pytestmark = pytest.mark.django_db


def multi_game(env_id: str = "multi/pong", **fields: Any) -> Game:
    game = Game(slug="duel", title="Duel", env_id=env_id, env_kwargs={}, **fields)
    game_prepare(game)
    game.save()
    return game


def test_it_reads_each_seats_actions_and_the_frame_of_a_multi_seat_game() -> None:
    facts = env_inspect("multi/boxing", {"frameskip": 1})

    assert facts.seats == 2
    assert facts.seat_action_meanings[0] == facts.seat_action_meanings[1] == facts.action_meanings
    assert len(facts.action_meanings) == 18 and facts.action_meanings[1] == "FIRE"
    assert facts.first_frame.shape == (210, 160, 3)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("multi/pacman", {}, "no multi-seat game 'pacman'"),
        ("multi/pong", {"difficulty": 2}, "The env kwargs do not fit"),
        ("multi/pong", {"frameskip": 0}, "frameskip must be a whole number"),
    ],
    ids=["unknown game", "unknown kwarg", "bad frameskip"],
)
def test_it_says_why_a_multi_seat_game_cannot_be_built(
    env_id: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        env_inspect(env_id, kwargs)


def test_it_prepares_a_multi_seat_game_as_an_atari_game() -> None:
    game = multi_game()

    assert game.is_multi_seat and game.is_atari and game.seat_count == 2
    assert game.env_kwargs == {
        "frameskip": 1,
        "repeat_action_probability": 0.0,
        "full_action_space": False,
    }
    assert game.action_meanings == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert game.frame_shape == [210, 160]
    assert game.key_map["combos"]["FIRE"] == 1  # derived from the actions, as ALE games' are


def test_it_seats_a_person_per_player_when_a_multi_seat_game_has_no_seats() -> None:
    config = multi_game(on_leave="abandon").config()

    assert config.seats == (
        SeatConfig(index=0, role="the green paddle, on the right"),
        SeatConfig(index=1, role="the orange paddle, on the left"),
    )
    assert (config.on_leave, config.start_countdown, config.n_actions) == ("abandon", 3, 6)


def test_it_tells_the_match_who_fills_each_seat(make_game: Any) -> None:
    game = make_game("pong-2p")
    tracker = Policy.objects.get(game=game, kind="pong-tracker")

    config = game.config()

    assert config.env_id == "multi/pong" and config.on_leave == "ai"
    assert [(seat.index, seat.fill, seat.policy_id) for seat in config.seats] == [
        (0, "human", tracker.pk),  # the tracker takes over the paddle of a player who leaves
        (1, "human_or_policy", tracker.pk),
    ]
    assert config.seats[1].human_timeout == 30.0
    assert config.seats[1].role == "the orange paddle, on the left"
    assert "orange paddle" in config.seats[1].instructions
    assert config.seats[1].key_map == {}  # the game's keys


def test_a_one_seat_game_still_tells_the_match_it_has_one_person(pong: Game) -> None:
    assert pong.config().seats == ()
    assert pong.seat_count == 1 and not pong.is_multi_seat


def test_it_refuses_an_ai_seat_without_an_ai() -> None:
    game = multi_game()
    with pytest.raises(ValidationError, match="Choose the AI policy"):
        GameSeat(game=game, index=1, fill="human_or_policy").full_clean()


def test_it_refuses_another_games_ai_for_a_seat(pong: Game) -> None:
    others = Policy.objects.create(game=pong, name="Tracker", kind="pong-tracker")
    game = multi_game()
    with pytest.raises(ValidationError, match="plays another game"):
        GameSeat(game=game, index=1, fill="policy", policy=others).full_clean()


def test_the_database_refuses_an_ai_seat_without_an_ai() -> None:
    from django.db import IntegrityError

    game = multi_game()
    with pytest.raises(IntegrityError):
        GameSeat.objects.create(game=game, index=0, fill="policy")


@pytest.mark.parametrize(
    ("seats", "message"),
    [
        ([0], "give it one seat for each, numbered 0 to 1"),
        ([0, 2], "not seats 0, 2"),
        ([0, 1, 2], "not seats 0, 1, 2"),
    ],
    ids=["too few", "a gap", "too many"],
)
def test_it_numbers_a_multi_seat_games_seats_as_its_players(seats: list[int], message: str) -> None:
    game = multi_game(on_leave="end")
    with pytest.raises(ValidationError, match=message):
        game_seats_check(game=game, seats=[GameSeat(game=game, index=i) for i in seats])


def test_it_keeps_a_seat_open_to_a_person() -> None:
    game = multi_game(on_leave="end")
    tracker = Policy.objects.create(game=game, name="Tracker", kind="pong-tracker")
    seats = [GameSeat(game=game, index=i, fill="policy", policy=tracker) for i in (0, 1)]

    with pytest.raises(ValidationError, match="Open at least one seat to a person"):
        game_seats_check(game=game, seats=seats)


def test_it_asks_for_an_ai_to_take_over_when_a_person_leaves() -> None:
    game = multi_game(on_leave="ai")
    tracker = Policy.objects.create(game=game, name="Tracker", kind="pong-tracker")
    seats = [
        GameSeat(game=game, index=0),
        GameSeat(game=game, index=1, fill="human_or_policy", policy=tracker),
    ]

    with pytest.raises(ValidationError, match="but player 1 has none"):
        game_seats_check(game=game, seats=seats)
    seats[0].policy = tracker
    game_seats_check(game=game, seats=seats)


def test_it_lets_a_one_seat_game_have_only_a_persons_seat_0(pong: Game) -> None:
    tracker = Policy.objects.create(game=pong, name="Tracker", kind="pong-tracker")
    game_seats_check(game=pong, seats=[GameSeat(game=pong, index=0, policy=tracker)])

    with pytest.raises(ValidationError, match="played by the person who opens it"):
        game_seats_check(
            game=pong, seats=[GameSeat(game=pong, index=0, fill="policy", policy=tracker)]
        )
    with pytest.raises(ValidationError, match="one seat at most, numbered 0"):
        game_seats_check(game=pong, seats=[GameSeat(game=pong, index=1)])


def test_it_checks_a_seats_own_key_map_against_the_games_actions() -> None:
    game = multi_game(on_leave="end")
    key_map = {"keys": {"Space": "FIRE"}, "combos": {"FIRE": 6}}

    with pytest.raises(ValidationError, match=r"Player 2's key map: .* not an action from 0 to 5"):
        game_seats_check(
            game=game,
            seats=[GameSeat(game=game, index=0), GameSeat(game=game, index=1, key_map=key_map)],
        )


def test_it_refuses_the_pong_tracker_for_a_seat_pong_does_not_have() -> None:
    game = multi_game("multi/boxing", on_leave="end")
    with pytest.raises(ValueError, match="the Pong tracker plays Pong"):
        policy_build(Policy(game=game, name="Tracker", kind="pong-tracker"))


# --- the Pong tracker in two-player Pong -----------------------------------------------------


def test_it_builds_the_pong_tracker_for_the_left_paddle_of_seat_1(make_game: Any) -> None:
    game = make_game("pong-vs-ai")
    tracker = policy_build(game.seats.get(index=1).policy, seat=1)

    assert isinstance(tracker, PongTracker)
    assert tracker.side == "left" and tracker.n_actions == 6


def test_the_tracker_in_seat_1_wins_the_orange_paddles_points(make_game: Any) -> None:
    """pong-vs-ai as a match plays it: the tracker's seat scores, a random player's seldom."""
    game = make_game("pong-vs-ai")
    seat = game.seats.get(index=1)
    config = game.config()
    tracker = policy_build(seat.policy, seat=seat.index)
    person = RandomPolicy(n_actions=config.n_actions)  # a person pressing keys at random
    machine = build_machine(config)
    assert is_multi_machine(machine)
    machine.start(0, None)
    tracker.reset(0)
    person.reset(1)
    points = [0, 0]
    for _ in range(30_000):
        outcome = machine.step([person.act(machine), tracker.act(machine)])
        points = [mine + (reward > 0) for mine, reward in zip(points, outcome.rewards, strict=True)]
        if outcome.terminated:
            break
    assert points[1] == 21 and points[0] <= 3, points


def test_a_seats_ai_must_be_able_to_play_that_seat(make_game: Any) -> None:
    game = make_game("pong-2p")
    tracker = Policy.objects.get(game=game, kind="pong-tracker")
    with pytest.raises(ValueError, match="has no player 3"):
        policy_build(tracker, seat=2)
