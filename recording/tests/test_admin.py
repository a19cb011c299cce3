"""Inspecting recordings in the Django admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def admin_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def test_it_lists_episodes_with_length_return_and_a_link_to_transitions(
    admin_client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=40)
    page = admin_client.get(reverse("admin:recording_episode_changelist")).content.decode()
    assert str(episode.pk)[:8] in page
    assert "40 steps" in page
    filtered = admin_client.get(
        reverse("admin:recording_episode_changelist"), {"status__exact": "incomplete"}
    )
    assert str(episode.pk)[:8] not in filtered.content.decode()


def test_it_lists_an_episodes_transitions_read_only(
    admin_client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=40)
    url = reverse("admin:recording_transition_changelist")
    response = admin_client.get(url, {"episode__uuid__exact": str(episode.pk)})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 40
    transition = episode.transitions.get(step=3)
    change = admin_client.get(reverse("admin:recording_transition_change", args=[transition.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


def test_it_shows_any_recorded_frame_exactly(admin_client: Client, alice: Any, pong: Any) -> None:
    episode, played = record_episode(user=alice, game=pong, steps=260)
    page = admin_client.get(
        reverse("admin:recording_episode_frames", args=[episode.pk]), {"frame": 255}
    )
    assert page.status_code == 200
    png = admin_client.get(reverse("admin:recording_episode_frame_png", args=[episode.pk, 255]))
    assert png["Content-Type"] == "image/png"
    import io

    import numpy as np

    image = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
    from games.engine.machines import build_machine

    machine = build_machine(pong.config())
    machine.start(7, None)
    for step in range(255):
        machine.step(step // 10 % pong.config().n_actions)
        machine.new_colours()
    assert machine.palette is not None
    assert np.array_equal(played[255], machine.frame)
    assert np.array_equal(image, machine.palette.rgb[machine.frame])
    missing = admin_client.get(reverse("admin:recording_episode_frame_png", args=[episode.pk, 999]))
    assert missing.status_code == 404


def test_it_shows_and_filters_episodes_by_replay_verification(
    admin_client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=40)
    changelist = reverse("admin:recording_episode_changelist")

    page = admin_client.get(changelist).content.decode()
    verified = admin_client.get(changelist, {"verification__exact": "verified"}).content.decode()
    mismatched = admin_client.get(changelist, {"verification__exact": "mismatch"}).content.decode()
    change = admin_client.get(reverse("admin:recording_episode_change", args=[episode.pk]))

    assert 'title="40 steps and 41 frames replayed identically">Verified</span>' in page
    assert str(episode.pk)[:8] in verified
    assert str(episode.pk)[:8] not in mismatched
    assert "40 steps and 41 frames replayed identically" in change.content.decode()


def test_it_finds_a_game_of_several_players_by_any_of_them_and_shows_its_live_column_early(
    admin_client: Client, alice: Any, bob: Any, redis_flushed: None
) -> None:
    from recording.services import SeatHolder

    from .helpers import pong_for_two, record_multi_seat_episode

    played = record_multi_seat_episode(
        game=pong_for_two(),
        seats=[
            SeatHolder(index=0, kind="human", user=alice),
            SeatHolder(index=1, kind="human", user=bob),
        ],
        steps=30,
    )
    url = reverse("admin:recording_episode_changelist")

    found = admin_client.get(url, {"q": "bob@example.org"}).content.decode()

    assert str(played.episode.pk)[:8] in found
    assert found.count('class="action-select"') == 1  # one row, though two seats are searched
    assert found.index("column-watch_link") < found.index("column-end_reason")


def episodes_page(client: Client) -> tuple[str, int]:
    """The admin's list of episodes, and the queries it took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:recording_episode_changelist"))
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_it_lists_who_held_every_seat_in_as_many_queries_for_many_episodes_as_for_one(
    admin_client: Client, alice: Any, bob: Any
) -> None:
    from games.models import Policy
    from recording import services
    from recording.services import SeatHolder

    from .helpers import pong_for_two

    game = pong_for_two()
    tracker = Policy.objects.create(game=game, name="Tracker", kind="pong-tracker")

    def start(*seats: SeatHolder) -> Any:
        return services.episode_start(
            user=alice, game=game, seed=1, frame_shape=[210, 160], pixel_format="indexed",
            seats=list(seats),
        )  # fmt: skip

    start(
        SeatHolder(index=0, kind="human", user=alice), SeatHolder(index=1, kind="human", user=bob)
    )
    _, one = episodes_page(admin_client)
    start(
        SeatHolder(index=0, kind="policy", policy=tracker),
        SeatHolder(index=1, kind="human", user=bob),
    )
    handed = start(SeatHolder(index=0, kind="human", user=bob), SeatHolder(index=1, kind="vacant"))
    services.seat_taken(
        episode_id=str(handed.pk), index=0, kind="policy", policy=tracker, from_step=50
    )

    page, three = episodes_page(admin_client)

    assert three == one  # the seats of every row come in one query, not one a row
    assert "Player 1: alice@example.org<br>Player 2: bob@example.org" in page
    assert "Player 1: Tracker (AI)<br>Player 2: bob@example.org" in page
    assert "Player 1: bob@example.org then Tracker (AI)<br>Player 2: nobody" in page
    assert 'class="field-players"' in page and "field-user" not in page
