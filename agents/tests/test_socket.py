"""The agent socket in process (``/ws``): its answers to every kind of bad input, each with
an error naming what to fix, and the session going on; seeds that reproduce an episode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import numpy as np
import pytest
from arcade_client import wire as client_wire
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from agents import schema, services, wire
from agents.wire import Observation
from arcade.asgi import application
from play.tests.sockets import end_every_game
from recording.models import Episode

SCHEMAS = {"observation": schema.OBSERVATION, "state": schema.STATE, "error": schema.ERROR}
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


class Agent:
    def __init__(self, token: str | None, *, header: str = "authorization") -> None:
        headers = [(b"host", b"127.0.0.1:8000")]
        if token is not None:
            value = f"Bearer {token}" if header == "authorization" else token
            headers.append((header.encode(), value.encode()))
        self.ws = WebsocketCommunicator(application, "/ws", headers=headers)

    async def open(self) -> None:
        connected, _ = await self.ws.connect()
        assert connected

    async def ask(self, message: Any) -> dict[str, Any]:
        await self.ws.send_to(
            text_data=message if isinstance(message, str) else json.dumps(message)
        )
        answer: dict[str, Any] = json.loads(await self.ws.receive_from(timeout=20))
        jsonschema.validate(answer["data"], SCHEMAS[answer["type"]])  # every answer, as documented
        return answer

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_to(text_data=json.dumps(message))

    async def binary(self, message: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        await self.send(message)
        return wire.read_binary(await self.ws.receive_from(timeout=20))

    async def error(self, message: Any) -> tuple[str, str]:
        answer = await self.ask(message)
        assert answer["type"] == "error", answer
        return answer["data"]["code"], answer["data"]["message"]


@pytest.fixture
async def token(pong: Any, alice: Any) -> AsyncIterator[str]:
    _, raw = await sync_to_async(services.issue)(alice, "tests")
    yield raw
    await end_every_game()
    from play import engine

    for _ in range(100):  # a session that closed a moment ago may still store its last chunk
        if not engine.heartbeat().live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"an agent's game is still running: {engine.heartbeat().live}")


async def test_without_a_good_token_the_socket_is_told_why_and_closed(token: str) -> None:
    for wrong in (None, "arc_00000000_wrong"):
        agent = Agent(wrong)
        await agent.open()
        said = json.loads(await agent.ws.receive_from(timeout=5))
        assert said["data"]["code"] == "unauthorized" and "Authorization" in said["data"]["message"]
        assert (await agent.ws.receive_output(timeout=5))["code"] == 4401


async def test_every_bad_message_is_answered_and_the_session_goes_on(token: str) -> None:
    agent = Agent(token)
    await agent.open()
    assert (await agent.error({"type": "step", "data": {"action_id": 0}}))[0] == "not_started"
    assert (await agent.error("{not json"))[0] == "bad_message"
    assert (await agent.error("x" * 70_000))[0] == "bad_message"
    assert (await agent.error({"type": "jump"}))[0] == "bad_message"
    assert (await agent.error({"type": "reset", "data": {"game_name": "zork"}}))[
        0
    ] == "unknown_game"
    code, text = await agent.error({"type": "reset", "data": {"frameskip": 0}})
    assert code == "bad_option" and "frameskip" in text
    code, text = await agent.error({"type": "reset", "data": {"colour": "blue"}})
    assert code == "bad_option" and "colour" in text
    # Pong's cartridge has game modes 0 and 1, difficulties 0 to 3: the answer names them.
    code, text = await agent.error({"type": "reset", "data": {"mode": 7}})
    assert code == "bad_option" and "modes: 0, 1" in text
    code, text = await agent.error({"type": "reset", "data": {"difficulty": 9}})
    assert code == "bad_option" and "difficulties: 0, 1, 2, 3" in text
    first = await agent.ask({"type": "reset", "data": {"game_name": "pong", "max_steps": 3}})
    assert first["type"] == "observation" and first["data"]["done"] is False
    for bad in ({"action_id": 6}, {"action_id": -1}, {"action_id": "1"}, {}):
        assert (await agent.error({"type": "step", "data": bad}))[0] == "bad_action"
    assert (await agent.error({"type": "step", "data": [1]}))[0] == "bad_message"
    code, text = await agent.error({"type": "step", "data": {"session": 5, "action_id": 0}})
    assert code == "bad_message" and "session" in text
    for _ in range(3):
        last = await agent.ask({"type": "step", "data": {"action_id": 2}})
    assert last["data"]["done"] is True  # max_steps
    assert (await agent.error({"type": "step", "data": {"action_id": 0}}))[0] == "episode_over"
    state = await agent.ask({"type": "state"})
    assert state["data"]["step_count"] == 3
    await agent.ws.disconnect()


async def test_the_same_seed_and_actions_give_the_same_screens(token: str) -> None:
    screens = []
    for _ in range(2):
        agent = Agent(token, header="x-arcade-token")
        await agent.open()
        seen = [await agent.ask({"type": "reset", "data": {"seed": 11, "obs_type": "palette"}})]
        for step in range(40):
            seen.append(await agent.ask({"type": "step", "data": {"action_id": step % 6}}))
        screens.append([answer["data"]["observation"]["screen"] for answer in seen])
        await agent.ws.disconnect()
    assert screens[0] == screens[1]


async def test_a_revoked_tokens_sessions_are_told_and_closed(token: str) -> None:
    agent = Agent(token)
    await agent.open()
    await agent.ask({"type": "reset", "data": {}})
    found = await sync_to_async(services.find)(token)
    assert found is not None
    await sync_to_async(services.revoke)(found)
    said = json.loads(await agent.ws.receive_from(timeout=5))
    assert said["data"]["code"] == "token_revoked"
    assert (await agent.ws.receive_output(timeout=5))["code"] == 4401
    await agent.ws.disconnect()
    # Its episode ended with the session, every step kept: nothing of it is left running.
    from play import engine

    for _ in range(100):  # its last chunk may still be on its way
        if not engine.heartbeat().live:
            break
        await asyncio.sleep(0.05)
    assert not engine.heartbeat().live


async def test_binary_observations_carry_the_same_screen_as_bytes(token: str) -> None:
    agent = Agent(token)
    await agent.open()
    as_json = await agent.ask({"type": "reset", "data": {"seed": 5}})
    message, screen = await agent.binary(
        {"type": "reset", "data": {"seed": 5, "encoding": "binary"}}
    )
    assert screen.shape == (210, 160, 3) and screen.dtype == np.uint8
    observation = message["data"]["observation"]
    assert observation["screen"] is None and observation["screen_dtype"] == "uint8"
    assert screen.reshape(-1).tolist() == as_json["data"]["observation"]["screen"]
    for obs_type, shape in (("ram", (128,)), ("grayscale", (210, 160)), ("palette", (210, 160))):
        _, screen = await agent.binary(
            {"type": "reset", "data": {"encoding": "binary", "obs_type": obs_type}}
        )
        assert screen.shape == shape
        message, screen = await agent.binary({"type": "step", "data": {"action_id": 1}})
        assert message["type"] == "observation" and screen.shape == shape
    # state and errors stay JSON text
    assert (await agent.ask({"type": "state"}))["data"]["encoding"] == "binary"
    assert (await agent.error({"type": "step", "data": {"action_id": 99}}))[0] == "bad_action"
    await agent.ws.disconnect()


async def test_delta_observations_rebuild_exactly_the_binary_screens(token: str) -> None:
    """Two sessions of one seed and the same actions, one binary and one delta-encoded: the
    client's ``Screens`` rebuild every delta screen exactly, through an episode's end and a
    reset (a keyframe again), for each observation type."""
    agent = Agent(token)
    await agent.open()
    screens = client_wire.Screens()

    async def delta(message: dict[str, Any]) -> tuple[str, Any]:
        await agent.send(message)
        raw = await agent.ws.receive_from(timeout=20)
        length = int.from_bytes(raw[4:8], "little")  # AOB1, the JSON's length, the JSON
        coded = json.loads(raw[8 : 8 + length])["data"]["observation"]["screen_codec"]
        seen = client_wire.decode(raw, screens)
        assert isinstance(seen, client_wire.Observation), seen
        return coded, seen.screen

    for obs_type in ("rgb", "grayscale", "ram", "palette"):
        for episode in range(2):
            reset = {"seed": 5 + episode, "obs_type": obs_type, "max_steps": 40}
            _, expected = await agent.binary(
                {"type": "reset", "data": {**reset, "encoding": "binary", "session": "b"}}
            )
            coded, screen = await delta(
                {"type": "reset", "data": {**reset, "encoding": "delta", "session": "d"}}
            )
            assert coded == "keyframe" and np.array_equal(screen, expected)
            codings = set()
            for step in range(40):
                action = {"action_id": step % 6}
                _, expected = await agent.binary(
                    {"type": "step", "data": {**action, "session": "b"}}
                )
                coded, screen = await delta({"type": "step", "data": {**action, "session": "d"}})
                codings.add(coded)
                assert np.array_equal(screen, expected), (obs_type, episode, step)
            assert codings == {"delta"}
    # A step's delta is small: Pong's 100,800 bytes of RGB travel as about a hundred.
    await agent.send({"type": "reset", "data": {"seed": 1, "encoding": "delta"}})
    await agent.ws.receive_from(timeout=20)
    sizes = []
    for _ in range(30):
        await agent.send({"type": "step", "data": {"action_id": 0}})
        sizes.append(len(await agent.ws.receive_from(timeout=20)))
    assert sorted(sizes)[15] < 2_000, sizes
    await agent.ws.disconnect()


def test_a_delta_without_the_screen_before_is_a_reply_the_client_cannot_read() -> None:
    observation = Observation(
        screen=np.zeros((2, 8), np.uint8), legal=6, lives=0, frame=4, reward=0.0, done=False,
        truncated=False, obs_type="palette", episode_id="e",
    )  # fmt: skip
    first = client_wire.decode(observation.delta(None), client_wire.Screens())
    assert isinstance(first, client_wire.Observation) and not first.screen.any()
    lost = client_wire.decode(observation.delta(np.ones((2, 8), np.uint8)), client_wire.Screens())
    assert isinstance(lost, client_wire.ArcadeError) and lost.code == "bad_reply"
    assert "no screen before" in lost.message


async def test_one_socket_steps_several_named_sessions_each_its_own_episode(token: str) -> None:
    agent = Agent(token)
    await agent.open()
    for name, seed in (("a", 1), ("b", 2)):
        first = await agent.ask(
            {"type": "reset", "data": {"session": name, "seed": seed, "obs_type": "ram"}}
        )
        assert first["type"] == "observation" and first["data"]["session"] == name, first
    # pipelined: both steps sent before either answer is read; each answer names its session
    await agent.send({"type": "step", "data": {"session": "a", "action_id": 1}})
    await agent.send({"type": "step", "data": {"session": "b", "action_id": 2}})
    answers = [json.loads(await agent.ws.receive_from(timeout=20)) for _ in range(2)]
    assert [answer["data"]["session"] for answer in answers] == ["a", "b"]
    states = [await agent.ask({"type": "state", "data": {"session": n}}) for n in ("a", "b")]
    assert [state["data"].get("seed") for state in states] == [1, 2], states
    assert states[0]["data"]["episode_id"] != states[1]["data"]["episode_id"]
    # closing one leaves the other (and the socket) open
    await agent.send({"type": "close", "data": {"session": "a"}})
    code, _ = await agent.error({"type": "step", "data": {"session": "a", "action_id": 0}})
    assert code == "not_started"
    again = await agent.ask({"type": "step", "data": {"session": "b", "action_id": 0}})
    assert again["type"] == "observation" and again["data"]["session"] == "b"
    await agent.ws.disconnect()


async def test_a_token_holds_at_most_its_sessions_across_its_sockets(token: str) -> None:
    found = await sync_to_async(services.find)(token)
    assert found is not None
    found.max_sessions = 2
    await found.asave(update_fields=["max_sessions"])
    first, second = Agent(token), Agent(token)
    await first.open()
    await second.open()
    assert (await first.ask({"type": "reset", "data": {"session": "1"}}))["type"] == "observation"
    assert (await second.ask({"type": "reset", "data": {}}))["type"] == "observation"
    code, text = await second.error({"type": "reset", "data": {"session": "3"}})
    assert code == "too_many_sessions" and "2" in text
    # a reset of a session it holds is no new session; closing one frees its place
    assert (await first.ask({"type": "reset", "data": {"session": "1"}}))["type"] == "observation"
    await first.send({"type": "close", "data": {"session": "1"}})
    closed = await first.ask({"type": "state", "data": {"session": "1"}})  # answered after it
    assert closed["data"]["episode_id"] is None
    third = await second.ask({"type": "reset", "data": {"session": "3"}})
    assert third["type"] == "observation", third
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_steps_over_the_tokens_rate_are_refused_not_taken(token: str) -> None:
    found = await sync_to_async(services.find)(token)
    assert found is not None
    found.max_steps_per_second = 5
    await found.asave(update_fields=["max_steps_per_second"])
    agent = Agent(token)
    await agent.open()
    await agent.ask({"type": "reset", "data": {"obs_type": "ram"}})
    codes = []
    for _ in range(12):
        answer = await agent.ask({"type": "step", "data": {"action_id": 0}})
        codes.append(answer["data"].get("code", "ok"))
    assert codes[:5] == ["ok"] * 5 and "rate_limited" in codes
    state = await agent.ask({"type": "state"})
    assert state["data"]["step_count"] == codes.count("ok")  # refused steps were not taken
    await agent.ws.disconnect()


@override_settings(ARCADE={**settings.ARCADE, "AGENT_SESSIONS": 1})
async def test_a_process_past_its_agent_budget_says_so(token: str) -> None:
    agent = Agent(token)
    await agent.open()
    await agent.ask({"type": "reset", "data": {"obs_type": "ram"}})
    code, text = await agent.error({"type": "reset", "data": {"session": "more"}})
    assert code == "server_busy" and "retry" in text
    assert (await agent.ask({"type": "step", "data": {"action_id": 0}}))["type"] == "observation"
    await agent.ws.disconnect()


async def test_an_idle_session_is_closed_and_told(token: str, monkeypatch: Any) -> None:
    from agents import hosting

    monkeypatch.setattr(hosting, "KEEP_SECONDS", 0.2)
    found = await sync_to_async(services.find)(token)
    assert found is not None
    found.idle_seconds = 1
    await found.asave(update_fields=["idle_seconds"])
    agent = Agent(token)
    await agent.open()
    await agent.ask({"type": "reset", "data": {"session": "s", "obs_type": "ram"}})
    await agent.ask({"type": "step", "data": {"session": "s", "action_id": 0}})
    episode_id = (await agent.ask({"type": "state", "data": {"session": "s"}}))["data"][
        "episode_id"
    ]
    said = json.loads(await agent.ws.receive_from(timeout=10))
    assert said["data"] == {
        "code": "idle_timeout",
        "message": said["data"]["message"],
        "session": "s",
    }
    code, _ = await agent.error({"type": "step", "data": {"session": "s", "action_id": 0}})
    assert code == "not_started"
    # its episode was kept, ended as abandoned
    for _ in range(200):
        episode = await Episode.objects.filter(pk=episode_id).afirst()
        if episode is not None and episode.end_reason:
            break
        await asyncio.sleep(0.05)
    assert episode is not None and episode.end_reason == "abandoned"
    await agent.ws.disconnect()


@override_settings(ARCADE={**settings.ARCADE, "MAX_SESSIONS_PER_PROCESS": 1})
async def test_agents_never_take_a_persons_place_on_the_process(token: str) -> None:
    from play import engine

    agent = Agent(token)
    await agent.open()
    await agent.ask({"type": "reset", "data": {"obs_type": "ram"}})
    await agent.ask({"type": "step", "data": {"action_id": 0}})
    assert engine.heartbeat().live  # its game is live, and beating
    assert engine.seats().take()  # yet a person's game still finds its one place
    engine.seats().give_back()
    await agent.ws.disconnect()
