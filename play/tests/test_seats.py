"""Seats and starts cannot be hoarded: caps hold under concurrent starts, floods are refused
when they arrive, a newer tab takes over the player's game, and refused starts leave no rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import LazySettings

from accounts.models import User
from play import engine
from play import protocol as p
from recording.models import Episode

from .sockets import connect, end_every_game
from .test_consumers import Player
from .test_reconnect import ended

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


@pytest.fixture(autouse=True)
async def grace(settings: LazySettings) -> AsyncIterator[None]:
    settings.ARCADE = {**settings.ARCADE, "RECONNECT_GRACE_SECONDS": 1}
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()
    engine.start_limiter.cache_clear()
    yield
    await end_every_game()
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()
    engine.start_limiter.cache_clear()


async def opened(slug: str, user: Any) -> Player:
    player = Player(await connect(slug, user))
    await player.open()
    return player


async def outcome_of_start(player: Player) -> str:
    """'episode', an error's code, or 'closed <code>': what a start came to."""
    while True:
        message = await player.ws.receive_output(timeout=20)
        if message["type"] == "websocket.close":
            return f"closed {message['code']}"
        if message.get("text"):
            data = json.loads(message["text"])
            if data["type"] == "episode":
                player.episode = data["episode"]
                return "episode"
            if data["type"] == "error":
                return str(data["code"])


async def active_episodes(**filters: Any) -> int:
    return await Episode.objects.filter(status="active", **filters).acount()


async def test_it_gives_fifty_concurrent_starts_of_one_player_one_game(
    pong: Any, alice: Any
) -> None:
    tabs = [await opened("pong", alice) for _ in range(50)]
    await asyncio.gather(*(tab.send({"type": "start"}) for tab in tabs))
    outcomes = await asyncio.gather(*(outcome_of_start(tab) for tab in tabs))
    # Each start waits for the one before it, then takes its game over: one game moves from
    # tab to tab, and what is over the start limit is refused.
    assert outcomes.count("episode") >= 1
    assert set(outcomes) <= {"episode", "too_many_starts"}
    assert outcomes.count("too_many_starts") == 50 - 30  # ARCADE_STARTS_PER_MINUTE
    assert await Episode.objects.filter(user=alice).acount() == 1
    assert await active_episodes(user=alice) == 1
    assert len(engine.heartbeat().live) == 1
    for tab in tabs:
        await tab.ws.disconnect()


async def test_it_seats_no_more_players_than_the_cap_under_concurrent_starts(
    pong: Any, settings: LazySettings
) -> None:
    settings.ARCADE = {**settings.ARCADE, "MAX_SESSIONS_PER_PROCESS": 3}
    users = [
        await sync_to_async(User.objects.create_user)(f"player{n}@example.org", "a-password-1")
        for n in range(8)
    ]
    players = [await opened("pong", user) for user in users]
    await asyncio.gather(*(player.send({"type": "start"}) for player in players))
    outcomes = await asyncio.gather(*(outcome_of_start(player) for player in players))
    assert sorted(outcomes) == ["episode"] * 3 + ["full"] * 5
    assert await Episode.objects.acount() == 3
    for player in players:
        await player.ws.disconnect()


async def test_it_refuses_a_second_start_while_the_first_is_being_prepared(
    pong: Any, alice: Any
) -> None:
    player = await opened("pong", alice)
    await player.send({"type": "start"})
    await player.send({"type": "start"})
    busy = await player.next_text("error")
    assert (busy["code"], busy["message"]) == ("busy", "Your game is starting; wait for it.")
    await player.text("episode")
    await player.send({"type": "begin"})
    await player.play(frames=5)
    assert await Episode.objects.acount() == 1
    await player.ws.disconnect()


async def test_it_refuses_a_flood_of_starts_when_they_arrive_not_after(
    pong: Any, alice: Any, settings: LazySettings
) -> None:
    # The message rate limit would refuse most of the flood itself: here the starts' own
    # limits are what is tried.
    settings.ARCADE = {**settings.ARCADE, "MAX_MESSAGES_PER_SECOND": 10_000}
    player = await opened("pong", alice)
    for _ in range(300):
        await player.send({"type": "start"})
    # Every one of them was answered by the time a ping sent after them is.
    await player.send({"type": "ping", "t": 1.0})
    await player.next_text("pong")
    codes = [t["code"] for t in player.texts if t["type"] == "error"]
    assert set(codes) <= {"busy", "too_many_starts"}
    assert len(codes) >= 300 - 30
    await player.text("episode")
    await asyncio.sleep(0.5)  # the start under way when the ping was answered (if any) ends
    started = await Episode.objects.acount()
    await asyncio.sleep(1)  # nothing was queued behind the refusals
    assert await Episode.objects.acount() == started <= 30
    assert await active_episodes() == 1
    await player.ws.disconnect()


async def test_it_moves_the_players_game_to_their_newer_tab(pong: Any, alice: Any) -> None:
    older = await opened("pong", alice)
    await older.start()
    await older.play(frames=30)
    newer = await opened("pong", alice)
    await newer.send({"type": "start"})
    episode = await newer.next_text("episode")
    assert (episode["episode"], episode["resumed"]) == (older.episode, True)
    assert episode["steps"] >= 30
    # The older tab is told why, and closed so that its page does not take the game back.
    while True:
        message = await older.ws.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            break
        if message.get("text") and json.loads(message["text"])["type"] == "error":
            assert json.loads(message["text"])["code"] == "taken_over"
    assert message["code"] == p.CLOSE_TAKEN_OVER
    await newer.play(frames=episode["steps"] + 30)
    await newer.ws.disconnect()
    assert await Episode.objects.acount() == 1
    played = await ended(older.episode, timeout=10)
    assert await played.transitions.acount() == played.steps


async def test_it_lets_a_player_have_more_games_when_the_cap_allows(
    pong: Any, alice: Any, settings: LazySettings
) -> None:
    settings.ARCADE = {**settings.ARCADE, "MAX_GAMES_PER_USER": 2}
    first, second, third = [await opened("pong", alice) for _ in range(3)]
    for tab in (first, second):
        await tab.start()
    await third.send({"type": "start"})
    taken = await third.next_text("episode")
    assert taken["episode"] in (first.episode, second.episode) and taken["resumed"]
    assert await Episode.objects.acount() == 2
    for tab in (first, second, third):
        await tab.ws.disconnect()


async def test_it_keeps_no_row_of_a_game_left_before_its_first_step(hanoi: Any, alice: Any) -> None:
    player = await opened("tower-of-hanoi", alice)
    await player.start()  # a turn-based game takes no step until a key is pressed
    await player.ws.disconnect()
    await asyncio.sleep(0.1)
    await engine.parked().end_all()
    assert await Episode.objects.acount() == 0
    assert engine.heartbeat().live == frozenset()


async def test_it_keeps_no_row_of_a_start_whose_socket_went_before_its_first_frame(
    pong: Any, alice: Any
) -> None:
    player = await opened("pong", alice)
    await player.send({"type": "start"})
    await player.ws.disconnect()
    await asyncio.sleep(0.5)
    await engine.parked().end_all()
    assert await Episode.objects.acount() == 0
    assert engine.heartbeat().live == frozenset()


async def test_it_takes_over_the_players_game_from_another_web_process(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = await opened("pong", alice)
    await older.start()
    await older.play(frames=30)
    # The newer tab's process does not host the older tab's socket: it can only ask the
    # player's group on the channel layer (game.release) for the game.
    monkeypatch.setattr(engine, "players_sessions", lambda **_: [])
    newer = await opened("pong", alice)
    await newer.send({"type": "start"})
    episode = await newer.next_text("episode")
    assert (episode["episode"], episode["resumed"]) == (older.episode, True)
    assert await outcome_of_start(older) == "taken_over"
    assert await outcome_of_start(older) == f"closed {p.CLOSE_TAKEN_OVER}"
    await newer.play(frames=episode["steps"] + 10)
    await newer.ws.disconnect()
    assert await Episode.objects.acount() == 1


async def test_it_starts_a_new_game_when_the_other_process_holding_one_is_gone(
    pong: Any, alice: Any
) -> None:
    # An active episode in the database that no process answers for (its process died; the
    # watchdog will end it): the newer tab waits RELEASE_TIMEOUT, then plays a new game.
    stale = await sync_to_async(Episode.objects.create)(
        user=alice, game=pong, seed=1, env_spec={}, versions={}, frame_shape=[210, 160]
    )
    newer = await opened("pong", alice)
    await newer.start()
    assert newer.episode != str(stale.pk)
    await newer.ws.disconnect()
