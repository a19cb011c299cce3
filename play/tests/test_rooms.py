"""Games of several seats through the real sockets: the waiting room, play together, an AI
filling or taking over a seat, spectators, and the input a seat may not send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from play import lobby
from play import protocol as p
from recording.models import Episode, EpisodeSeat

from .sockets import closed_with, connect, end_every_game
from .test_consumers import Player

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


class Seated(Player):
    """A player of a multi-seat game: joins the waiting room and plays its seat."""

    seat: int = -1

    async def join(self) -> dict[str, Any]:
        await self.send({"type": "start"})
        seat = await self.next_text("seat")
        self.seat = seat["seat"]
        return seat

    async def until_episode(self) -> dict[str, Any]:
        msg = await self.next_text("episode")
        self.episode = msg["episode"]
        return msg

    async def play_until_over(self) -> dict[str, Any]:
        while True:
            what, data = await self.receive()
            if what == "text" and data["type"] == "episode_end":
                return data  # type: ignore[no-any-return]


@pytest.fixture
async def clean_lobby() -> AsyncIterator[None]:
    from play import engine

    await lobby.forget_all()
    yield
    await end_every_game()
    # Joining counts as a start: the next test's players (the same ids) start afresh; and
    # the live settings a test changed are read again.
    engine.start_limiter.cache_clear()
    engine.live_settings.cache_clear()


@pytest.fixture
def fast(settings: Any) -> Iterator[Any]:
    from play import engine

    settings.ARCADE = {**settings.ARCADE, "RECONNECT_GRACE_SECONDS": 1, "LOBBY_TIMEOUT_SECONDS": 30}
    engine.live_settings.cache_clear()  # read from the settings once a process: again now
    yield settings
    engine.live_settings.cache_clear()  # and the next test's own afterwards


async def game(make_game: Any, slug: str, **fields: Any) -> Any:
    return await sync_to_async(make_game)(slug, start_countdown=0, **fields)


async def seats_of(episode_id: str) -> list[tuple[int, str, int]]:
    rows = EpisodeSeat.objects.filter(episode_id=episode_id).order_by("index", "from_step")
    return [(s.index, s.kind, s.from_step) async for s in rows]


async def test_two_players_are_matched_and_play_together_each_from_their_own_seat(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "pong-2p", max_steps=240)
    first = Seated(await connect("pong-2p", alice, route="match"))
    second = Seated(await connect("pong-2p", bob, route="match"))
    await first.open()
    await second.open()
    assert first.hello["game"]["keys"] == []  # a seat's keys come with the seat
    seat = await first.join()
    assert (seat["seat"], seat["role"]) == (0, "the green paddle, on the right")
    assert "ArrowUp" in seat["keys"]
    waiting = await first.next_text("lobby")  # the seat first, then who is there
    assert (waiting["state"], waiting["seats"], waiting["filled"]) == ("waiting", 2, 1)
    assert (await second.join())["seat"] == 1
    # Players see each other by their public names, never by their email addresses.
    joined = await second.next_text("lobby")
    names = [seat.get("name") for seat in joined["who"]]
    assert names[0] == alice.public_name and "@" not in str(joined)
    started = [await first.until_episode(), await second.until_episode()]
    assert started[0]["episode"] == started[1]["episode"]
    assert [msg["seat"] for msg in started] == [0, 1]
    # The room's episode is marked alive while it plays (else the watchdog would end a game
    # of several players as lost after LOST_AFTER_SECONDS).
    from play import engine

    assert first.episode in engine.attended()
    await first.press("ArrowUp")
    await second.press("ArrowDown")
    ends = await asyncio.gather(first.play_until_over(), second.play_until_over())
    assert {end["reason"] for end in ends} == {"truncated"}
    assert ends[0]["steps"] == 240
    # Both saw the same game, each on their own screen.
    shared = sorted(set(first.frames) & set(second.frames))
    assert len(shared) > 200
    assert all(first.frames[n].tobytes() == second.frames[n].tobytes() for n in shared)
    episode = await Episode.objects.aget(pk=first.episode)
    assert episode.steps == 240 and episode.verification == "verified"
    assert await seats_of(first.episode) == [(0, "human", 0), (1, "human", 0)]
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_the_waiting_room_gives_a_seat_to_its_ai_when_nobody_comes(
    make_game: Any, alice: Any, clean_lobby: None, fast: Any
) -> None:
    pong2p = await game(make_game, "pong-2p", max_steps=120)
    await pong2p.seats.filter(index=1).aupdate(human_timeout=1)
    player = Seated(await connect("pong-2p", alice, route="match"))
    await player.open()
    await player.join()
    await player.until_episode()
    lobby_now = [t for t in player.texts if t["type"] == "lobby"][-1]
    assert lobby_now["who"][1]["kind"] == "ai" and lobby_now["who"][1]["name"] == "Pong tracker"
    assert (await player.play_until_over())["reason"] == "truncated"
    episode = await Episode.objects.aget(pk=player.episode)
    assert episode.verification == "verified"
    assert await seats_of(player.episode) == [(0, "human", 0), (1, "policy", 0)]
    await player.ws.disconnect()


async def test_a_player_who_leaves_mid_game_is_replaced_by_the_ai_from_that_step_on(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "pong-2p", max_steps=900)
    first = Seated(await connect("pong-2p", alice, route="match"))
    second = Seated(await connect("pong-2p", bob, route="match"))
    await first.open()
    await second.open()
    await first.join()
    await second.join()
    await first.until_episode()
    await second.until_episode()
    await first.play(frames=60)
    await second.ws.disconnect()  # bob's tab closes
    away = await first.next_text("seat")
    assert (away["state"], away["seat"], away["grace"]) == ("away", 1, 1)
    taken = await first.next_text("seat")
    assert (taken["state"], taken["name"]) == ("ai", "Pong tracker")
    assert (await first.play_until_over())["reason"] == "truncated"
    rows = await seats_of(first.episode)
    assert rows[:2] == [(0, "human", 0), (1, "human", 0)]
    assert rows[2][:2] == (1, "policy") and 60 <= rows[2][2] < 900
    episode = await Episode.objects.aget(pk=first.episode)
    assert episode.steps == 900 and episode.verification == "verified"
    await first.ws.disconnect()


async def test_a_spectator_sees_the_game_and_every_seats_score_and_its_input_is_refused(
    make_game: Any, alice: Any, staff: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    pong2p = await game(make_game, "pong-2p", max_steps=600)
    await pong2p.seats.filter(index=1).aupdate(human_timeout=1)
    player = Seated(await connect("pong-2p", alice, route="match"))
    await player.open()
    await player.join()
    await player.until_episode()
    await player.play(frames=30)
    # Someone who does not play in it may not watch; staff may.
    assert await closed_with(await connect(player.episode, bob, route="watch")) == 4403
    spectator = Seated(await connect(player.episode, staff, route="watch"))
    await spectator.open()
    watched = await spectator.next_text("episode")
    assert watched["episode"] == player.episode and watched["seat"] is None
    scores = await spectator.next_text("scores")  # both seats' so far, with the episode
    assert len(scores["returns"]) == len(scores["points"]) == 2
    header = await spectator.play(frames=watched["steps"] + 30)
    await spectator.press("ArrowUp")
    assert (await spectator.next_text("error"))["code"] == "spectator"
    await spectator.send({"type": "start"})
    assert (await spectator.next_text("error"))["code"] == "spectator"
    assert header.input_seq == 0
    # The player plays on, undisturbed; a spectator that stops reading costs them nothing.
    end = await player.play_until_over()
    assert end["reason"] == "truncated"
    assert spectator.frames[header.frame].tobytes() == player.frames[header.frame].tobytes()
    # The spectator saw every seat's score as it changed, not only the first seat's.
    assert (await spectator.play_until_over())["score"] == end["score"]
    last = [t for t in spectator.texts if t["type"] == "scores"][-1]
    mine = [t for t in player.texts if t["type"] == "points"][-1]["points"]
    assert last["returns"][0] == end["score"] and any(last["returns"])
    assert last["points"] == mine  # [alice's points, the AI's], as her own screen showed them
    assert not [t for t in spectator.texts if t["type"] == "points"]
    await spectator.ws.disconnect()
    await player.ws.disconnect()


async def test_a_spectator_who_comes_while_a_player_is_away_is_told_why_the_game_stands_still(
    make_game: Any, alice: Any, bob: Any, staff: Any, clean_lobby: None, fast: Any
) -> None:
    from play import engine

    fast.ARCADE = {**fast.ARCADE, "RECONNECT_GRACE_SECONDS": 30}
    engine.live_settings.cache_clear()
    await game(make_game, "pong-2p", max_steps=3600)
    first = Seated(await connect("pong-2p", alice, route="match"))
    second = Seated(await connect("pong-2p", bob, route="match"))
    for player in (first, second):
        await player.open()
        await player.join()
    await first.until_episode()
    await first.play(frames=30)
    await second.ws.disconnect()  # bob's network goes: the game pauses for him
    away = await first.next_text("seat")
    assert (away["state"], away["seat"], away["grace"]) == ("away", 1, 30)

    spectator = Seated(await connect(first.episode, staff, route="watch"))
    await spectator.open()
    watched = await spectator.next_text("episode")
    told = await spectator.next_text("seat")

    assert watched["paused"] is True
    assert (told["state"], told["seat"], told["name"]) == ("away", 1, bob.public_name)
    assert 0 < told["grace"] <= 30  # what is left of bob's grace
    await spectator.ws.disconnect()
    await first.ws.disconnect()


async def test_a_seat_acts_only_on_itself_and_a_player_holds_one_seat(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "pong-2p", max_steps=300)
    first = Seated(await connect("pong-2p", alice, route="match"))
    again = Seated(await connect("pong-2p", alice, route="match"))
    await first.open()
    await again.open()
    await first.join()
    await again.send({"type": "start"})
    assert (await again.next_text("error"))["code"] == "seated"
    await again.ws.disconnect()
    second = Seated(await connect("pong-2p", bob, route="match"))
    await second.open()
    await second.join()
    await first.until_episode()
    await second.until_episode()
    for bad in (
        {"seat": 1},  # the other player's seat
        {"episode": "00000000-0000-0000-0000-000000000000"},  # another episode
    ):
        first.seq += 1
        await first.send(
            {
                "type": "input",
                "seq": first.seq,
                "keys": ["ArrowUp"],
                "frame": 0,
                "t_shown": 1.0,
                "t_key": 2.0,
                **bad,
            }
        )
        assert (await first.next_text("error"))["code"] in ("wrong_seat", "wrong_episode")
    assert (await second.play_until_over())["reason"] == "truncated"
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_leaving_the_waiting_room_frees_the_place_and_an_empty_room_leaves_nothing(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "boxing-2p", max_steps=120)
    first = Seated(await connect("boxing-2p", alice, route="match"))
    await first.open()
    await first.join()
    await first.send({"type": "leave"})
    await asyncio.sleep(0.2)
    assert lobby.rooms() == []  # nobody left in it: cancelled, no episode
    second = Seated(await connect("boxing-2p", bob, route="match"))
    await second.open()
    assert (await second.join())["seat"] == 0  # the first seat is free again
    assert await Episode.objects.acount() == 0
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_a_room_whose_players_never_come_is_cancelled_without_an_episode(
    make_game: Any, alice: Any, clean_lobby: None, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "LOBBY_TIMEOUT_SECONDS": 1}
    await game(make_game, "boxing-2p")
    player = Seated(await connect("boxing-2p", alice, route="match"))
    await player.open()
    await player.join()
    while True:
        msg = await player.next_text("lobby")
        if msg["state"] == "cancelled":
            break
    assert msg["reason"]
    assert await Episode.objects.acount() == 0
    await player.ws.disconnect()


async def test_a_one_seat_game_has_no_waiting_room(pong: Any, alice: Any) -> None:
    assert await closed_with(await connect("pong", alice, route="match")) == p.CLOSE_NOT_FOUND


async def test_it_refuses_a_game_of_several_seats_on_the_one_player_socket(
    make_game: Any, alice: Any
) -> None:
    # It was stepped as one player's game, and its first step failed: an episode ended as
    # "error" for every such socket, with a traceback in the log.
    await game(make_game, "pong-2p")
    assert await closed_with(await connect("pong-2p", alice)) == p.CLOSE_NOT_FOUND
    assert await Episode.objects.acount() == 0


async def test_garbage_on_a_match_socket_gets_errors_not_a_crash(
    make_game: Any, alice: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "pong-2p")
    player = Seated(await connect("pong-2p", alice, route="match"))
    await player.open()
    for bad in ("nope", json.dumps({"type": "input", "seq": 1}), json.dumps({"type": "ack"})):
        await player.ws.send_to(text_data=bad)
        assert (await player.next_text("error"))["code"] in ("bad_message", "bad_field")
    await player.send({"type": "ack", "frame": 3})
    assert (await player.next_text("error"))["code"] == "not_seated"
    await player.join()
    await player.ws.disconnect()


async def test_staff_watch_a_one_player_game_and_find_it_among_the_live_ones_in_the_admin(
    pong: Any, alice: Any, staff: Any, clean_lobby: None
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=30)
    spectator = Player(await connect(player.episode, staff, route="watch"))
    await spectator.open()
    watched = await spectator.next_text("episode")
    assert watched["episode"] == player.episode
    header = await spectator.play(frames=watched["steps"] + 20)
    await spectator.press("ArrowUp")
    assert (await spectator.next_text("error"))["code"] == "spectator"

    def admin_page() -> str:
        from django.test import Client

        client = Client()
        client.force_login(staff)
        return client.get("/admin/recording/episode/?live=yes").content.decode()

    page = await sync_to_async(admin_page)()
    assert f"/watch/{player.episode}/" in page and ">Watch<" in page
    await player.play(frames=header.frame + 10)
    await spectator.ws.disconnect()
    await player.ws.disconnect()
    await end_every_game()


@pytest.fixture(autouse=True)
async def _no_game_outlives_its_test() -> AsyncIterator[None]:
    from play import engine

    yield
    for _ in range(100):  # a game left a moment ago may still be storing its last chunk
        if not engine.heartbeat().live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"a game of this test is still beating: {engine.heartbeat().live}")


async def test_a_shutting_down_process_ends_its_games_of_several_players_keeping_every_step(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    from play import engine

    await game(make_game, "pong-2p", max_steps=5000)
    first = Seated(await connect("pong-2p", alice, route="match"))
    second = Seated(await connect("pong-2p", bob, route="match"))
    await first.open()
    await second.open()
    await first.join()
    await second.join()
    await first.until_episode()
    await second.until_episode()
    await first.play(frames=90)
    await engine.drain()
    ends = await asyncio.gather(first.play_until_over(), second.play_until_over())
    assert {end["reason"] for end in ends} == {"abandoned"}
    episode = await Episode.objects.aget(pk=first.episode)
    assert episode.end_reason == "abandoned" and episode.steps >= 90
    assert episode.verification == "verified"
    assert lobby.rooms() == []
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_a_game_whose_players_all_leave_at_once_ends_at_once_as_abandoned(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, settings: Any
) -> None:
    # A long grace: the game must not wait for it when nobody is left to play for.
    settings.ARCADE = {**settings.ARCADE, "RECONNECT_GRACE_SECONDS": 60}
    await game(make_game, "pong-2p", max_steps=5000)
    first = Seated(await connect("pong-2p", alice, route="match"))
    second = Seated(await connect("pong-2p", bob, route="match"))
    await first.open()
    await second.open()
    await first.join()
    await second.join()
    await first.until_episode()
    await second.until_episode()
    await first.play(frames=60)
    await asyncio.gather(first.ws.disconnect(), second.ws.disconnect())
    for _ in range(100):
        if not lobby.rooms():
            break
        await asyncio.sleep(0.05)
    assert lobby.rooms() == []
    episode = await Episode.objects.aget(pk=first.episode)
    assert episode.end_reason == "abandoned" and episode.steps >= 60


async def test_a_long_game_stays_findable_for_spectators_as_long_as_it_beats(
    pong: Any, alice: Any, clean_lobby: None
) -> None:
    from play import hub

    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=10)
    key = hub.EPISODE_KEY.format(player.episode)
    for _ in range(100):  # published from a task of its own, a moment after the start
        if hub.redis().exists(key):
            break
        await asyncio.sleep(0.02)
    hub.redis().expire(key, 5)  # as if most of its TTL had run out
    await sync_to_async(hub.keep)([player.episode])  # the heartbeat's beat
    assert hub.redis().ttl(key) > 60
    assert await hub.room_of_episode(player.episode) is not None
    await player.ws.disconnect()
    await end_every_game()
