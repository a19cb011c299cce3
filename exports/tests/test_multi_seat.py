"""A multi-seat episode exported: Parquet's per-seat columns, and one Minari dataset per seat,
each from that seat's side, read back with pyarrow and minari."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from exports.services import dataset_export, selection, user_pseudonym
from exports.tests.test_minari import load
from games.models import Policy
from recording.services import SeatHolder
from recording.tests.helpers import (
    MultiSeatPlay,
    pong_for_two,
    record_episode,
    record_multi_seat_episode,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

STEPS = 80
HANDED_OVER_AT = 40


@pytest.fixture
def two_player_game(db: Any) -> Any:
    return pong_for_two()


@pytest.fixture
def played(alice: Any, bob: Any, two_player_game: Any, redis_flushed: None) -> MultiSeatPlay:
    """Alice (seat 0) and Bob (seat 1) play; at step 40 Bob leaves and the tracker takes over."""
    tracker = Policy.objects.create(game=two_player_game, name="Tracker", kind="pong-tracker")
    played = record_multi_seat_episode(
        game=two_player_game,
        seats=[
            SeatHolder(index=0, kind="human", user=alice),
            SeatHolder(index=1, kind="human", user=bob),
        ],
        steps=STEPS,
        hand_over=(HANDED_OVER_AT, SeatHolder(index=1, kind="policy", policy=tracker)),
    )
    assert played.episode.verification == "verified", played.episode.verification_detail
    played.tracker = tracker  # type: ignore[attr-defined]
    return played


def test_parquet_steps_carry_every_seats_action_reward_holder_and_decision(
    tmp_path: Path, played: MultiSeatPlay, alice: Any, bob: Any, pong: Any
) -> None:
    one_seat, _ = record_episode(user=alice, game=pong, steps=30)

    dataset_export(
        query=selection([str(played.episode.pk), str(one_seat.pk)]),
        destination=str(tmp_path),
        format="parquet",
        observation="indices",
    )

    steps = pq.read_table(tmp_path / "steps").to_pandas()
    two = steps[steps.episode == str(played.episode.pk)].sort_values("step")
    assert [list(a) for a in two.seat_actions] == played.joint_actions
    assert list(two.action) == [joint[0] for joint in played.joint_actions]
    assert [list(r) for r in two.seat_rewards] == [[0.0, 0.0]] * STEPS
    tracker = played.tracker  # type: ignore[attr-defined]
    assert list(two.seat_holders.iloc[HANDED_OVER_AT - 1]) == [
        f"user:{user_pseudonym(alice.pk)}",
        f"user:{user_pseudonym(bob.pk)}",
    ]
    assert list(two.seat_holders.iloc[HANDED_OVER_AT]) == [
        f"user:{user_pseudonym(alice.pk)}",
        f"policy:{tracker.pk}",
    ]
    assert [list(f) for f in two.seat_fresh.iloc[HANDED_OVER_AT : HANDED_OVER_AT + 2]] == [
        [True, True],  # the tracker decides on its first step
        [True, False],
    ]
    one = steps[steps.episode == str(one_seat.pk)]
    assert one.seat_actions.isna().all() and one.seat_holders.isna().all()


def test_minari_has_one_dataset_per_seat_each_from_that_seats_side(
    tmp_path: Path, played: MultiSeatPlay, alice: Any, bob: Any
) -> None:
    summary = dataset_export(
        query=selection([str(played.episode.pk)]),
        destination=str(tmp_path),
        format="minari",
        observation="indices",
    )

    assert summary.exported == 1
    frames = np.stack(played.frames)
    joint = np.asarray(played.joint_actions)
    for seat in (0, 1):
        dataset = load(tmp_path, f"arcade/pong-for-two/seat-{seat}/indices-v0")
        episode = next(dataset.iterate_episodes())
        (metadata,) = dataset.storage.get_episode_metadata([0])
        other = 1 - seat
        assert metadata["seat"] == seat
        assert np.array_equal(episode.observations, frames)
        assert episode.actions.tolist() == joint[:, seat].tolist()
        assert episode.rewards.tolist() == [0.0] * STEPS
        assert episode.infos["other_actions"][1:, 0].tolist() == joint[:, other].tolist()
        assert episode.infos[f"reward_of_seat_{other}"].tolist() == [0.0] * (STEPS + 1)
    seat_1 = next(load(tmp_path, "arcade/pong-for-two/seat-1/indices-v0").iterate_episodes())
    holders = seat_1.infos["holder"].tolist()
    assert holders[HANDED_OVER_AT] == f"user:{user_pseudonym(bob.pk)}"  # row t + 1: step t
    assert holders[HANDED_OVER_AT + 1] == f"policy:{played.tracker.pk}"  # type: ignore[attr-defined]
    assert seat_1.infos["new_input"].sum() == HANDED_OVER_AT // 10  # Bob's key presses only
    seat_0 = next(load(tmp_path, "arcade/pong-for-two/seat-0/indices-v0").iterate_episodes())
    assert seat_0.infos["keys"][16] == "ArrowDown"  # step 15: Alice's second press


def test_it_says_in_each_seats_dataset_and_in_the_card_whose_side_it_holds(
    tmp_path: Path, played: MultiSeatPlay
) -> None:
    dataset_export(
        query=selection([str(played.episode.pk)]),
        destination=str(tmp_path),
        format="minari",
        observation="indices",
    )

    for seat in (0, 1):
        dataset = load(tmp_path, f"arcade/pong-for-two/seat-{seat}/indices-v0")
        description = dataset.storage.metadata["description"]
        assert f"from the side of player {seat + 1} (seat {seat})" in description
        assert "infos['other_actions']" in description
    card = (tmp_path / "README.md").read_text()
    assert "## Games of several seats" in card
    assert "`arcade/<game>/seat-<k>/<observation>-v0`" in card
    assert "`other_actions`" in card and "`reward_of_seat_<i>`" in card


def test_it_leaves_the_seats_out_of_the_card_of_one_player_games(
    tmp_path: Path, alice: Any, pong: Any, redis_flushed: None
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=20)
    dataset_export(
        query=selection([str(episode.pk)]),
        destination=str(tmp_path),
        format="minari",
        observation="indices",
    )

    assert "several seats" not in (tmp_path / "README.md").read_text()


def test_atari_observations_sum_each_seats_rewards_over_four_steps(
    tmp_path: Path, played: MultiSeatPlay
) -> None:
    dataset_export(
        query=selection([str(played.episode.pk)]),
        destination=str(tmp_path),
        format="parquet",
        observation="atari",
    )

    steps = pq.read_table(tmp_path / "steps").to_pandas()
    joint = np.asarray(played.joint_actions)
    assert len(steps) == STEPS // 4
    assert [list(a) for a in steps.seat_actions] == joint[::4].tolist()


def test_ram_observations_of_a_multi_seat_game_are_refused_with_a_way_out(
    tmp_path: Path, played: MultiSeatPlay
) -> None:
    from exports.services import ExportError

    with pytest.raises(ExportError, match="choose another --observation"):
        dataset_export(
            query=selection([str(played.episode.pk)]),
            destination=str(tmp_path),
            format="parquet",
            observation="ram",
        )
