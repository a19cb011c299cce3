"""The player's own pages: My episodes and the replay of an episode of theirs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from recording import services
from recording.models import Episode
from recording.templatetags.episodes import duration

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def row_of(page: str, episode: Episode) -> str:
    match = re.search(rf'<tr data-episode="{episode.pk}">(.*?)</tr>', page, re.S)
    assert match, "the episode is not listed"
    return re.sub(r"\s+", " ", match.group(1))


def test_it_lists_times_with_seconds_and_time_zone_and_each_episodes_duration(
    client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=60)
    Episode.objects.filter(pk=episode.pk).update(
        ended_at=episode.started_at + timedelta(minutes=2, seconds=5)
    )
    client.force_login(alice)
    row = row_of(client.get("/me/episodes/").content.decode(), episode)
    assert re.search(r">\d{1,2} \w{3} \d{4}, \d{2}:\d{2}:\d{2} UTC</time>", row), row
    assert "2 min 05 s" in row


def test_it_counts_the_steps_of_an_active_episode_as_they_are_stored(
    client: Client, alice: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=60, chunk_steps=25, store=False)
    Episode.objects.filter(pk=episode.pk).update(steps=0)  # as the live session leaves it
    for index in (0, 1):  # two of its three chunks have reached storage
        services.chunk_store(episode_id=str(episode.pk), index=index)
    client.force_login(alice)
    row = row_of(client.get("/me/episodes/").content.decode(), episode)
    assert '<td class="number steps">50 so far</td>' in row
    assert 'class="badge status-active"' in row


def test_it_links_the_players_episodes_to_a_replay_only_they_can_watch(
    client: Client, alice: Any, bob: Any, pong: Any
) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=60)
    client.force_login(alice)
    row = row_of(client.get("/me/episodes/").content.decode(), episode)
    assert f'href="/me/episodes/{episode.pk}/">Replay</a>' in row
    page = client.get(f"/me/episodes/{episode.pk}/").content.decode()
    assert 'id="playback"' in page and '"frames": 61' in page
    strip = client.get(f"/me/episodes/{episode.pk}/strips/0.png")
    assert (strip.status_code, strip["Content-Type"]) == (200, "image/png")

    client.force_login(bob)
    assert client.get(f"/me/episodes/{episode.pk}/").status_code == 404
    assert client.get(f"/me/episodes/{episode.pk}/strips/0.png").status_code == 404
    client.logout()
    assert client.get(f"/me/episodes/{episode.pk}/").status_code == 302  # to log in


def test_it_colours_every_status_and_verdict_badge() -> None:
    css = (Path(settings.BASE_DIR) / "static" / "css" / "arcade.css").read_text()
    for status in Episode.Status.values:
        assert f".status-{status}" in css, status
    for verdict in Episode.Verification.values:
        assert f".verification-{verdict}" in css, verdict


def test_it_writes_durations_as_people_read_them() -> None:
    assert [duration(timedelta(seconds=s)) for s in (42, 125, 3720)] == [
        "42 s",
        "2 min 05 s",
        "1 h 02 min",
    ]


def test_it_calls_the_figure_it_lists_the_return_and_says_what_that_is_for_pong(
    client: Client, alice: Any, pong: Any
) -> None:
    """Pong's return is the points won minus the points lost, not the score the screen showed
    (3 : 21 is -18), and the points are not stored: the column says what it lists."""
    episode, _ = record_episode(user=alice, game=pong, steps=10)
    client.force_login(alice)

    page = re.sub(r"\s+", " ", client.get("/me/episodes/").content.decode())

    assert str(episode.pk) in page
    assert ">Return</th>" in page and ">Score</th>" not in page
    assert "for two-sided games such as Pong, the points you won minus the points you lost" in page
    replay = re.sub(r"\s+", " ", client.get(f"/me/episodes/{episode.pk}/").content.decode())
    assert f", return {episode.total_return:g}." in replay and "score" not in replay


def test_it_shows_each_player_of_a_game_for_two_the_return_of_their_own_seat(
    alice: Any, bob: Any, redis_flushed: None
) -> None:
    from recording.models import Transition

    from .helpers import pong_for_two, record_multi_seat_episode

    played = record_multi_seat_episode(
        game=pong_for_two(),
        seats=[
            services.SeatHolder(index=0, kind="human", user=alice),
            services.SeatHolder(index=1, kind="human", user=bob),
        ],
        steps=600,
    )
    episode = Episode.objects.get(pk=played.episode.pk)
    seats = Transition.objects.filter(episode=episode).values_list("seats", flat=True)
    rewards = [row["rewards"] for row in seats if row is not None]
    returns = [sum(pair[seat] for pair in rewards) for seat in (0, 1)]
    assert returns[0] != returns[1]  # the game scored, unevenly: the test can tell them apart

    assert episode.seat_returns == returns
    assert episode.total_return == returns[0]
    for user, mine in ((alice, returns[0]), (bob, returns[1])):
        client = Client()
        client.force_login(user)
        row = row_of(client.get("/me/episodes/").content.decode(), episode)
        assert f'<td class="number">{mine:g}</td>' in row  # not the first player's return
        replay = client.get(f"/me/episodes/{episode.pk}/").content.decode()
        assert f", return {mine:g}, as player {1 if user == alice else 2}." in replay


def test_it_shows_no_score_rather_than_the_first_players_to_the_second_of_an_older_game(
    alice: Any, bob: Any, redis_flushed: None
) -> None:
    from .helpers import pong_for_two, record_multi_seat_episode

    played = record_multi_seat_episode(
        game=pong_for_two(),
        seats=[
            services.SeatHolder(index=0, kind="human", user=alice),
            services.SeatHolder(index=1, kind="human", user=bob),
        ],
        steps=30,
    )
    # Finalised before Arcade kept each seat's return.
    Episode.objects.filter(pk=played.episode.pk).update(seat_returns=None, total_return=-16.0)
    client = Client()
    client.force_login(bob)

    row = row_of(client.get("/me/episodes/").content.decode(), played.episode)

    assert '<td class="number">\u2013</td>' in row and "-16" not in row  # an en dash
