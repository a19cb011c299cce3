"""Multi-seat episodes: every seat's action, reward, input and holder recorded, verified by
replaying the joint actions, and listed for everyone who held a seat."""

from __future__ import annotations

from typing import Any

import pytest
import zstandard
from django.test import Client

from games.models import Policy
from recording import chunkfile, services, stepcolumns
from recording.chunkfile import ChunkData
from recording.frames import episode_data
from recording.models import Episode, EpisodeSeat, Transition
from recording.recorder import SEAT_COLUMNS
from recording.services import SeatHolder

from .helpers import pong_for_two, record_episode, record_multi_seat_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

V = Episode.Verification


@pytest.fixture
def two_player_pong(db: Any) -> Any:
    return pong_for_two()


@pytest.fixture
def tracker(two_player_pong: Any) -> Policy:
    return Policy.objects.create(game=two_player_pong, name="Tracker", kind="pong-tracker")


def alice_and_bob(alice: Any, bob: Any) -> list[SeatHolder]:
    return [
        SeatHolder(index=0, kind="human", user=alice, role="the green paddle"),
        SeatHolder(index=1, kind="human", user=bob, role="the orange paddle"),
    ]


def test_it_records_every_seats_action_reward_input_holder_and_decision(
    alice: Any, bob: Any, two_player_pong: Any, tracker: Policy
) -> None:
    seats = [
        SeatHolder(index=0, kind="human", user=alice),
        SeatHolder(index=1, kind="policy", policy=tracker),
    ]
    played = record_multi_seat_episode(game=two_player_pong, seats=seats, steps=60)

    steps = episode_data(played.episode).steps

    assert steps["seat_actions"] == played.joint_actions
    assert steps["action"] == [joint[0] for joint in played.joint_actions]
    assert steps["seat_holders"] == [[f"user:{alice.pk}", f"policy:{tracker.pk}"]] * 60
    assert steps["seat_fresh"][:5] == [[True, True], [True, False], [True, False], [True, False],
                                       [True, True]]  # fmt: skip
    assert all(len(rewards) == 2 for rewards in steps["seat_rewards"] if rewards)
    stamps = steps["seat_stamps"][15]
    assert stamps is not None
    assert stamps[0]["seq"] == steps["input_seq"][15] == 2
    assert stamps[0]["keys"] == ["ArrowDown"]
    assert stamps[1] == {
        "seq": 0, "client_frame": None, "t_shown": None, "t_key": None, "t_received": None,
        "keys": [],
    }  # fmt: skip


def test_it_keeps_the_per_seat_values_on_the_transition_rows(
    alice: Any, bob: Any, two_player_pong: Any
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=30
    )

    row = Transition.objects.get(episode=played.episode, step=12)

    assert row.seats == {
        "actions": played.joint_actions[12],
        "rewards": [0.0, 0.0],
        "holders": [f"user:{alice.pk}", f"user:{bob.pk}"],
        "fresh": [True, True],
    }
    assert row.action == played.joint_actions[12][0]


def test_it_leaves_the_per_seat_columns_null_for_a_one_player_game(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=30)

    steps = episode_data(episode).steps

    for name in ("seat_actions", "seat_rewards", "seat_stamps", "seat_holders", "seat_fresh"):
        assert stepcolumns.by_name(steps)[name] == [None] * 30, name
    assert not Transition.objects.filter(episode=episode, seats__isnull=False).exists()


def test_it_verifies_a_multi_seat_episode_by_replaying_its_joint_actions(
    alice: Any, bob: Any, two_player_pong: Any
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=120
    )

    episode = played.episode
    assert episode.status == Episode.Status.COMPLETE, episode.integrity_error
    assert episode.verification == V.VERIFIED, episode.verification_detail
    assert episode.verification_detail == "120 steps and 121 frames replayed identically"


def test_it_verifies_an_episode_started_from_a_helper_processs_start_state(
    alice: Any, bob: Any, two_player_pong: Any
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=50, start_state=True
    )

    assert played.episode.verification == V.VERIFIED, played.episode.verification_detail


def test_it_verifies_while_played_from_checkpoints(
    alice: Any, bob: Any, two_player_pong: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 2}

    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=130, chunk_steps=20
    )

    assert played.episode.verification == V.VERIFIED, played.episode.verification_detail


def test_it_finds_a_seat_action_that_was_not_the_one_played(
    alice: Any, bob: Any, two_player_pong: Any
) -> None:
    def swap_seat_1s_action(chunk: ChunkData) -> None:
        if chunk.header["index"] == 1:
            joint = chunk.header["steps"]["seat_actions"][5]
            assert joint is not None
            joint[1] = 3 if joint[1] != 3 else 2  # step 30: seat 1 moved the other way

    played = record_multi_seat_episode(
        game=two_player_pong,
        seats=alice_and_bob(alice, bob),
        steps=100,
        tamper=swap_seat_1s_action,
    )

    episode = played.episode
    assert episode.verification == V.MISMATCH
    assert "differs from the replay" in episode.verification_detail
    assert 30 <= episode.verified_steps <= 33


def test_it_finds_a_seat_reward_that_was_not_earned(
    alice: Any, bob: Any, two_player_pong: Any
) -> None:
    def reward_seat_1(chunk: ChunkData) -> None:
        if chunk.header["index"] == 0:
            chunk.header["steps"]["seat_rewards"][7] = [0.0, 1.0]

    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=50, tamper=reward_seat_1
    )

    episode = played.episode
    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "step 7 differs from the replay: stored seat rewards [0.0, 1.0], replayed [0.0, 0.0]"
    )


def test_it_records_a_seat_changing_hands_in_its_holders_and_seats(
    alice: Any, bob: Any, two_player_pong: Any, tracker: Policy
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong,
        seats=alice_and_bob(alice, bob),
        steps=80,
        hand_over=(40, SeatHolder(index=1, kind="policy", policy=tracker)),
    )

    episode = played.episode
    steps = episode_data(episode).steps
    assert steps["seat_holders"][39] == [f"user:{alice.pk}", f"user:{bob.pk}"]
    assert steps["seat_holders"][40] == [f"user:{alice.pk}", f"policy:{tracker.pk}"]
    seats = list(episode.seats.values_list("index", "kind", "user", "policy", "from_step", "role"))
    assert seats == [
        (0, "human", alice.pk, None, 0, "the green paddle"),
        (1, "human", bob.pk, None, 0, "the orange paddle"),
        (1, "policy", None, tracker.pk, 40, "the orange paddle"),  # the seat's role kept
    ]
    assert episode.verification == V.VERIFIED, episode.verification_detail


def test_it_finds_holders_that_the_episodes_seats_do_not_name(
    alice: Any, bob: Any, two_player_pong: Any, tracker: Policy
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong,
        seats=alice_and_bob(alice, bob),
        steps=50,
        hand_over=(30, SeatHolder(index=1, kind="policy", policy=tracker)),
    )
    # The seat changed hands at step 30 in the recording; the row claims step 20.
    Episode.objects.filter(pk=played.episode.pk).update(
        verification=V.PENDING, verified_steps=0, verification_detail=""
    )
    EpisodeSeat.objects.filter(episode=played.episode, from_step=30).update(from_step=20)

    services.verification.episode_verify(episode_id=str(played.episode.pk))

    played.episode.refresh_from_db()
    assert played.episode.verification == V.MISMATCH
    assert played.episode.verification_detail == (
        f"step 20 was recorded with seat holders ['user:{alice.pk}', 'user:{bob.pk}'], but "
        f"the episode's seats name ['user:{alice.pk}', 'policy:{tracker.pk}']"
    )


def test_it_takes_a_seat_once_however_often_it_is_told(
    alice: Any, bob: Any, two_player_pong: Any, tracker: Policy
) -> None:
    episode = services.episode_start(
        user=alice,
        game=two_player_pong,
        seed=1,
        frame_shape=[210, 160],
        pixel_format="indexed",
        seats=alice_and_bob(alice, bob),
    )

    for _ in range(2):
        services.seat_taken(
            episode_id=str(episode.pk), index=1, kind="policy", policy=tracker, from_step=300
        )

    assert episode.seats.filter(index=1).count() == 2
    with pytest.raises(ValueError, match="was taken at step 300"):
        services.seat_taken(
            episode_id=str(episode.pk), index=1, kind="human", user=bob, from_step=300
        )


def test_the_episodes_user_is_the_first_person_seated(
    alice: Any, bob: Any, two_player_pong: Any, tracker: Policy
) -> None:
    episode = services.episode_start(
        user=bob,
        game=two_player_pong,
        seed=1,
        frame_shape=[210, 160],
        pixel_format="indexed",
        seats=[
            SeatHolder(index=0, kind="policy", policy=tracker),
            SeatHolder(index=1, kind="human", user=alice),
        ],
    )

    assert episode.user == alice
    assert list(episode.seats.values_list("index", "kind")) == [(0, "policy"), (1, "human")]


@pytest.mark.parametrize(
    ("indices", "message"),
    [((0,), "has 2 seats, not 1"), ((0, 0), "numbered 0, 1"), ((1, 2), "numbered 0, 1")],
)
def test_it_refuses_seats_that_are_not_the_games(
    alice: Any, two_player_pong: Any, indices: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        services.episode_start(
            user=alice,
            game=two_player_pong,
            seed=1,
            frame_shape=[210, 160],
            pixel_format="indexed",
            seats=[SeatHolder(index=i, kind="vacant") for i in indices],
        )


def test_it_refuses_a_holder_that_does_not_match_its_kind(alice: Any) -> None:
    with pytest.raises(ValueError, match="a policy seat names its policy"):
        SeatHolder(index=0, kind="policy", user=alice)


def test_my_episodes_lists_the_episode_for_every_person_seated_with_their_seat(
    client: Client, alice: Any, bob: Any, two_player_pong: Any
) -> None:
    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=30
    )

    client.force_login(bob)
    page = client.get("/me/episodes/").content.decode()
    replay = client.get(f"/me/episodes/{played.episode.pk}/")

    assert str(played.episode.pk) in page
    assert "as player 2: the orange paddle" in page
    assert "as player 1" not in page
    assert replay.status_code == 200


def seat_columns_bytes(steps: stepcolumns.StepColumns) -> int:
    """What the per-seat columns add to a chunk's compressed header, in bytes."""
    without = stepcolumns.sliced(steps, 0, stepcolumns.n_steps(steps))
    for name in SEAT_COLUMNS:
        stepcolumns.by_name(without)[name] = [None] * stepcolumns.n_steps(steps)
    zstd = zstandard.ZstdCompressor(level=chunkfile.ZSTD_LEVEL)
    with_seats = len(zstd.compress(stepcolumns.encode(steps)))
    return with_seats - len(zstd.compress(stepcolumns.encode(without)))


def test_the_seats_cost_a_few_bytes_a_step(alice: Any, bob: Any, two_player_pong: Any) -> None:
    """The per-seat columns repeat until a key press or a decision: a chunk lists each value
    once (docs/recording.md gives the figure for longer play)."""
    played = record_multi_seat_episode(
        game=two_player_pong, seats=alice_and_bob(alice, bob), steps=60, chunk_steps=60
    )

    steps = episode_data(played.episode).steps

    assert seat_columns_bytes(steps) < 60 * 8  # under 8 bytes a step for both seats
