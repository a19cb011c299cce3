"""The spectator's page refuses, in the site's own words and look, whoever may not watch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from recording.tests.helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def test_it_tells_someone_who_does_not_play_in_a_game_why_they_may_not_watch_it(
    pong: Any, alice: Any, bob: Any, redis_flushed: None
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    client = Client()
    client.force_login(bob)

    response = client.get(f"/watch/{episode.pk}/")

    assert response.status_code == 403
    page = response.content.decode()
    assert '<p id="forbidden">You may watch the games you play in.</p>' in page
    assert "Back to the library" in page and "bob@example.org" in page  # the site's page


def test_it_says_a_game_that_does_not_exist_is_not_found_on_the_sites_page(bob: Any) -> None:
    client = Client()
    client.force_login(bob)

    response = client.get(f"/watch/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()


def test_it_shows_a_spectator_each_seat_of_a_game_for_two_its_role_holder_and_score(
    alice: Any, staff: Any
) -> None:
    from games.models import Policy
    from recording import services
    from recording.services import SeatHolder
    from recording.tests.helpers import pong_for_two

    game = pong_for_two()
    tracker = Policy.objects.create(game=game, name="Tracker", kind="pong-tracker")
    episode = services.episode_start(
        user=alice,
        game=game,
        seed=1,
        frame_shape=[210, 160],
        pixel_format="indexed",
        seats=[
            SeatHolder(index=0, kind="human", user=alice, role="the green paddle, on the right"),
            SeatHolder(
                index=1, kind="policy", policy=tracker, role="the orange paddle, on the left"
            ),
        ],
    )
    client = Client()
    client.force_login(staff)

    page = client.get(f"/watch/{episode.pk}/").content.decode()

    assert (
        f"Player 1, the green paddle, on the right: {alice.public_name}."
        " Player 2, the orange paddle, on the left: Tracker (AI)."
    ) in page
    # Each seat's score has its place (the page fills them from `scores` messages), not one
    # "Score" of the first seat's.
    assert 'data-seat-score="0"' in page and 'data-seat-score="1"' in page
    assert 'id="score"' not in page
