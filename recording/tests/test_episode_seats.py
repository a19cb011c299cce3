"""Who held each seat of an episode, and from which step: recorded with every episode."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from django.test import Client

from games.models import Policy
from recording import services
from recording.models import Episode, EpisodeSeat

pytestmark = pytest.mark.django_db


def start(user: Any, game: Any) -> Episode:
    return services.episode_start(
        user=user, game=game, seed=1, frame_shape=[210, 160], pixel_format="indexed"
    )


def test_it_seats_the_player_of_a_one_player_game_from_its_first_step(
    alice: Any, pong: Any
) -> None:
    episode = start(alice, pong)

    seats = list(episode.seats.values_list("index", "kind", "user", "policy", "from_step"))
    assert seats == [(0, "human", alice.pk, None, 0)]


def test_it_keeps_each_holder_of_a_seat_that_changed_hands(alice: Any, pong: Any) -> None:
    episode = start(alice, pong)
    tracker = Policy.objects.create(game=pong, name="Tracker", kind="pong-tracker")
    EpisodeSeat.objects.create(
        episode=episode, index=0, kind="policy", policy=tracker, from_step=1200
    )

    holders = [(s.kind, s.from_step) for s in episode.seats.all()]
    assert holders == [("human", 0), ("policy", 1200)]


@pytest.mark.parametrize(
    "holder",
    [{"kind": "human"}, {"kind": "policy"}, {"kind": "vacant", "with_user": True}],
    ids=["a person nobody names", "a policy nobody names", "nobody with a user"],
)
def test_it_refuses_a_holder_that_does_not_match_its_kind(
    alice: Any, pong: Any, holder: dict[str, Any]
) -> None:
    episode = start(alice, pong)
    with pytest.raises(IntegrityError), transaction.atomic():
        EpisodeSeat.objects.create(
            episode=episode,
            index=1,
            kind=holder["kind"],
            user=alice if holder.get("with_user") else None,
        )


def test_it_seats_the_players_of_episodes_recorded_before_seats(alice: Any, pong: Any) -> None:
    episode = start(alice, pong)
    episode.seats.all().delete()
    migration = importlib.import_module("recording.migrations.0005_episode_seats")

    migration.seat_the_players(apps, None)

    assert list(episode.seats.values_list("index", "kind", "user")) == [(0, "human", alice.pk)]


def test_the_admin_lists_episodes_by_who_held_their_seats(alice: Any, pong: Any) -> None:
    from accounts.models import User

    episode = start(alice, pong)
    staff = Client()
    staff.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))

    people = staff.get("/admin/recording/episode/?seats__kind=human").content.decode()
    machines = staff.get("/admin/recording/episode/?seats__kind=policy").content.decode()
    page = staff.get(f"/admin/recording/episode/{episode.pk}/change/").content.decode()

    assert str(episode.pk)[:8] in people
    assert str(episode.pk)[:8] not in machines
    assert "Seat holders" in page and alice.email in page
