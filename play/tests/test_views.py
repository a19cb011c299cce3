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
