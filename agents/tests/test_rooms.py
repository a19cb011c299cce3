"""Agents in games of several seats, through the same waiting room as people: an agent and a
person on a play socket in one two-player match, two agents in one, a game that never starts,
and an agent that goes mid-game. Each episode is the room's, recorded once and verified."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents import services, wire
from games.catalogue import ATARI_KWARGS
from play import lobby
from play.tests.sockets import connect
from play.tests.test_rooms import Seated, clean_lobby, fast, game, seats_of  # noqa: F401
from recording.models import Episode

from .test_socket import Agent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_celery", "clean_lobby", "fast"),
]


async def token_of(user: Any) -> str:
    _, raw = await sync_to_async(services.issue)(user, "tests")
    return raw


async def settled(episode_id: str) -> Episode:
    """The episode once the workers have finalised and verified it (its end is recorded just
    after its last observation is answered)."""
    for _ in range(200):
        episode = await Episode.objects.aget(pk=episode_id)
        if episode.status != "active" and episode.verification not in ("", "pending"):
            return episode
        await asyncio.sleep(0.1)
    raise AssertionError(f"episode {episode_id} was not finalised")


async def play_until_done(agent: Agent, action: int) -> dict[str, Any]:
    """Step until the episode is over (binary observations: the test shares the server's
    loop, and checking a JSON screen's 100,800 numbers would slow the game it plays)."""
    steps = 0
    while True:
        answer, screen = await agent.binary({"type": "step", "data": {"action_id": action}})
        assert answer["type"] == "observation" and screen.shape == (210, 160, 3), answer
        steps += 1
        if answer["data"]["done"]:
            return {**answer["data"], "steps_taken": steps}


async def test_an_agent_and_a_person_play_one_two_player_game_from_the_same_waiting_room(
    make_game: Any, alice: Any, bob: Any
) -> None:
    await game(make_game, "pong-2p", max_steps=240)
    agent = Agent(await token_of(bob))
    await agent.open()
    # The agent waits in the waiting room: its reset is answered when the game starts.
    data = {"game_name": "pong-2p", "agent_name": "paddle", "encoding": "binary"}
    await agent.send({"type": "reset", "data": data})
    person = Seated(await connect("pong-2p", alice, route="match"))
    await person.open()
    seat = await person.join()
    assert seat["seat"] == 1  # the agent came first: seat 0 is its
    lobby_seen = await person.next_text("lobby")
    assert (lobby_seen["who"][0]["kind"], lobby_seen["who"][0]["name"]) == ("agent", "paddle")
    started, screen = wire.read_binary(await agent.ws.receive_from(timeout=20))
    assert started["type"] == "observation", started
    first = started["data"]
    assert screen.shape == (210, 160, 3) and screen.any()
    assert first["reward"] == 0 and not first["done"]
    state = (await agent.ask({"type": "state"}))["data"]
    assert (state["seat"], state["role"]) == (0, "the green paddle, on the right")
    # The room's settings, not the session's defaults: everyone plays the game's frameskip.
    assert (state["frameskip"], state["repeat_action_probability"]) == (
        ATARI_KWARGS["frameskip"],
        ATARI_KWARGS["repeat_action_probability"],
    )
    assert state["episode_id"] == first["episode_id"] == (await person.until_episode())["episode"]
    await person.press("ArrowUp")
    # The game goes on in real time for the person; each of the agent's steps is the next frame.
    last, ended = await asyncio.gather(play_until_done(agent, 2), person.play_until_over())
    assert ended["reason"] == "truncated" and ended["steps"] == 240
    assert last["truncated"] and last["episode_id"] == first["episode_id"]
    assert 0 < last["steps_taken"] <= 240
    assert last["observation"]["frame_number"] > first["observation"]["frame_number"]
    episode = await settled(first["episode_id"])
    assert episode.steps == 240 and episode.verification == "verified"
    assert await seats_of(str(episode.pk)) == [(0, "agent", 0), (1, "human", 0)]
    assert episode.context["agent"]["name"] == "paddle"
    # Seat 0 holds the agent's action as a person holds a key: every step is the agent's.
    assert (await agent.error({"type": "step", "data": {"action_id": 0}}))[0] == "episode_over"
    await agent.ws.disconnect()
    await person.ws.disconnect()


async def test_two_agents_play_each_other_on_one_socket(make_game: Any, alice: Any) -> None:
    await game(make_game, "pong-2p", max_steps=120)
    agent = Agent(await token_of(alice))
    await agent.open()
    for name in ("left", "right"):  # two sessions of one owner: two seats
        data = {"game_name": "pong-2p", "session": name, "agent_name": name, "obs_type": "ram"}
        await agent.send({"type": "reset", "data": data})
    started = [json.loads(await agent.ws.receive_from(timeout=20)) for _ in range(2)]
    assert {s["data"]["session"] for s in started} == {"left", "right"}
    assert len({s["data"]["episode_id"] for s in started}) == 1
    steps = 0
    done: set[str] = set()
    while len(done) < 2:
        for name in {"left", "right"} - done:
            await agent.send({"type": "step", "data": {"action_id": 1, "session": name}})
        for _ in range(2 - len(done)):
            answer = json.loads(await agent.ws.receive_from(timeout=20))
            assert answer["type"] == "observation", answer
            if answer["data"]["done"]:
                done.add(answer["data"]["session"])
        steps += 1
        assert steps <= 400
    episode = await settled(started[0]["data"]["episode_id"])
    assert episode.steps == 120 and episode.verification == "verified"
    assert await seats_of(str(episode.pk)) == [(0, "agent", 0), (1, "agent", 0)]
    await agent.ws.disconnect()


async def test_a_game_nobody_else_comes_to_is_cancelled_and_the_agent_is_told(
    make_game: Any, alice: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "LOBBY_TIMEOUT_SECONDS": 0.5}
    await game(make_game, "pong-2p", max_steps=120)
    agent = Agent(await token_of(alice))
    await agent.open()
    code, message = await agent.error({"type": "reset", "data": {"game_name": "pong-2p"}})
    assert code == "lobby_cancelled" and "Reset to wait again" in message
    assert not lobby.rooms()  # nothing left waiting
    # A setting of the room's own is refused before anyone waits; the socket goes on.
    code, message = await agent.error(
        {"type": "reset", "data": {"game_name": "pong-2p", "frameskip": 2}}
    )
    assert code == "bad_option" and "frameskip" in message
    assert (await agent.ask({"type": "state"}))["type"] == "state"
    # A session closed while it waits (a step pipelined behind its reset) frees its seat at
    # once, and the socket goes on.
    settings.ARCADE = {**settings.ARCADE, "LOBBY_TIMEOUT_SECONDS": 30}
    await agent.send({"type": "reset", "data": {"game_name": "pong-2p", "session": "w"}})
    await agent.send({"type": "step", "data": {"action_id": 0, "session": "w"}})
    for _ in range(100):
        if lobby.rooms() and lobby.rooms()[0].programs:
            break
        await asyncio.sleep(0.02)
    waiting = lobby.rooms()[0]
    await agent.send({"type": "close", "data": {"session": "w"}})
    await asyncio.wait_for(waiting.closed.wait(), 5)
    assert not lobby.rooms()
    assert (await agent.ask({"type": "state"}))["type"] == "state"
    # An agent whose socket goes while it waits frees its seat: the room waits for nobody.
    settings.ARCADE = {**settings.ARCADE, "LOBBY_TIMEOUT_SECONDS": 30}
    await agent.send({"type": "reset", "data": {"game_name": "pong-2p"}})
    for _ in range(100):
        if lobby.rooms() and lobby.rooms()[0].programs:
            break
        await asyncio.sleep(0.02)
    room = lobby.rooms()[0]
    await agent.ws.disconnect()
    await asyncio.wait_for(room.closed.wait(), 5)
    assert not room.programs and not lobby.rooms()
    assert not await Episode.objects.aexists()  # a game that never started left no record


async def test_an_agent_that_goes_mid_game_is_replaced_by_the_ai_and_the_person_plays_on(
    make_game: Any, alice: Any, bob: Any
) -> None:
    await game(make_game, "pong-2p", max_steps=300)
    person = Seated(await connect("pong-2p", alice, route="match"))
    await person.open()
    await person.join()
    agent = Agent(await token_of(bob))
    await agent.open()
    reset = {"game_name": "pong-2p", "obs_type": "ram"}
    first = (await agent.ask({"type": "reset", "data": reset}))["data"]
    for _ in range(10):
        await agent.ask({"type": "step", "data": {"action_id": 2}})
    await agent.ws.disconnect()  # the program is gone: no grace, the AI plays its paddle
    ended = await person.play_until_over()
    assert ended["reason"] == "truncated" and ended["steps"] == 300
    episode = await settled(first["episode_id"])
    assert episode.verification == "verified"
    rows = await seats_of(str(episode.pk))
    assert rows[0] == (0, "human", 0)
    assert [(i, kind) for i, kind, _ in rows[1:]] == [(1, "agent"), (1, "policy")]
    await person.ws.disconnect()
