"""The admin's frame viewer: actions by name, and a bad frame number answered with a message."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def admin_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def test_it_names_each_steps_action(admin_client: Client, alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=40)
    url = reverse("admin:recording_episode_frames", args=[episode.pk])
    meanings = episode.env_spec["action_meanings"]
    for step in (0, 25, 39):
        action = episode.transitions.get(step=step).action
        page = admin_client.get(url, {"frame": step}).content.decode()
        assert f'<td id="action">{meanings[action]} ({action})</td>' in page


@pytest.mark.parametrize("frame", ["abc", "1.5", "0x10", "½"])
def test_it_answers_a_frame_that_is_not_a_number_with_a_400_and_what_to_give(
    admin_client: Client, alice: Any, pong: Any, frame: str
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    url = reverse("admin:recording_episode_frames", args=[episode.pk])
    response = admin_client.get(url, {"frame": frame})
    assert response.status_code == 400
    assert "give a whole number from 0 to 10" in response.content.decode()


def test_it_still_clamps_a_number_beyond_the_episode(
    admin_client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    url = reverse("admin:recording_episode_frames", args=[episode.pk])
    assert admin_client.get(url, {"frame": "99"}).context["number"] == 10
    assert admin_client.get(url, {"frame": ""}).context["number"] == 0
