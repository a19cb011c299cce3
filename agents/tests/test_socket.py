"""The agent socket in process (``/ws``): its answers to every kind of bad input, each with
an error naming what to fix, and the session going on; seeds that reproduce an episode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agents import services
from arcade.asgi import application
from play.tests.sockets import end_every_game

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
        return json.loads(await self.ws.receive_from(timeout=20))

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
    first = await agent.ask({"type": "reset", "data": {"game_name": "pong", "max_steps": 3}})
    assert first["type"] == "observation" and first["data"]["done"] is False
    for bad in ({"action_id": 6}, {"action_id": -1}, {"action_id": "1"}, {}, [1]):
        assert (await agent.error({"type": "step", "data": bad}))[0] == "bad_action"
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
