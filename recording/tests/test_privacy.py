"""Players see only their own episodes: Alice's are on her page, never on Bob's or anyone's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def test_it_lists_only_the_players_own_episodes(alice: Any, bob: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    alices, bobs = Client(), Client()
    alices.force_login(alice)
    bobs.force_login(bob)
    url = reverse("recording:my_episodes")
    assert alices.get(url).context["page_obj"].object_list[0].pk == episode.pk
    assert list(bobs.get(url).context["page_obj"].object_list) == []
    assert str(episode.pk)[:8] not in bobs.get(url).content.decode()


def test_it_sends_anonymous_visitors_to_log_in(client: Client, alice: Any, pong: Any) -> None:
    record_episode(user=alice, game=pong, steps=10)
    response = client.get(reverse("recording:my_episodes"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_no_admin_page_of_an_episode_opens_for_a_player(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    client = Client()
    client.force_login(alice)  # her own episode, but the admin's views are staff-only
    for name, args in (
        ("admin:recording_episode_change", [episode.pk]),
        ("admin:recording_episode_frames", [episode.pk]),
        ("admin:recording_episode_frame_png", [episode.pk, 0]),
        ("admin:recording_episode_playback", [episode.pk]),
        ("admin:recording_episode_strip_png", [episode.pk, 0]),
    ):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("admin:login"))
