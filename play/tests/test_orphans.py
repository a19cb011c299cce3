"""A game never plays on for nobody: whatever ends a socket, its game pauses, then ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import LazySettings

from play import engine
from play import protocol as p
from play.consumers import PlayConsumer
from play.match import Match
from recording.models import Episode

from .sockets import connect, end_every_game
from .test_consumers import Player
from .test_reconnect import ended

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

GRACE = 1.0


@pytest.fixture(autouse=True)
async def grace(settings: LazySettings) -> AsyncIterator[None]:
    settings.ARCADE = {**settings.ARCADE, "RECONNECT_GRACE_SECONDS": GRACE}
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()
    yield
    await end_every_game()
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()


def hosted(episode_id: str) -> Match:
    return next(s for s in engine._sessions if s.episode is not None and s.episode.id == episode_id)


async def playing(slug: str, user: Any, frames: int = 10) -> Player:
    player = Player(await connect(slug, user))
    await player.open()
    await player.start()
    await player.play(frames=frames)
    return player


async def test_it_answers_json_nested_too_deeply_and_the_game_plays_on(
    pong: Any, alice: Any
) -> None:
    player = await playing("pong", alice)
    await player.ws.send_to(text_data="[" * 2000 + "]" * 2000)
    error = await player.next_text("error")
    assert (error["code"], error["message"]) == ("bad_message", "The message is nested too deeply.")
    await player.press("Space")
    header = await player.play(frames=60)
    assert header.input_seq == player.seq
    await player.ws.disconnect()


@pytest.mark.parametrize(
    "bad_id", ["a b", "é", "x/y", "../../etc", "A" * 36, "0" * 64, 12, None, ""]
)
async def test_it_refuses_resume_ids_that_are_not_episode_ids(
    pong: Any, alice: Any, bad_id: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.send({"type": "resume", "episode": bad_id})
    assert (await player.next_text("error"))["code"] == "bad_field"
    await player.start()  # the socket is as good as new
    await player.play(frames=5)
    await player.ws.disconnect()


async def test_it_refuses_input_naming_an_episode_with_a_bad_id(pong: Any, alice: Any) -> None:
    player = await playing("pong", alice)
    await player.send(
        {
            "type": "input",
            "seq": 1,
            "keys": [],
            "frame": 0,
            "t_shown": 0,
            "t_key": 0,
            "episode": "no such/episode",
        }
    )
    assert (await player.next_text("error"))["code"] == "bad_field"
    await player.ws.disconnect()


@pytest.mark.parametrize(
    ("t_shown", "t_key"), [(-1.0, 5.0), (5.0, -0.5), (1e12, 1e12), (0.0, 3.3e10)]
)
async def test_it_refuses_client_times_outside_a_plausible_range(
    pong: Any, alice: Any, t_shown: float, t_key: float
) -> None:
    player = await playing("pong", alice)
    await player.send(
        {"type": "input", "seq": 1, "keys": [], "frame": 0, "t_shown": t_shown, "t_key": t_key}
    )
    assert (await player.next_text("error"))["code"] == "bad_field"
    await player.ws.disconnect()
    episode = await ended(player.episode, timeout=10)
    assert await episode.transitions.filter(input_seq=1).acount() == 0


async def test_it_pauses_then_ends_a_game_whose_message_could_not_be_handled(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    player = await playing("pong", alice, frames=30)

    def broken(self: Match, frame: int) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Match, "on_ack", broken)
    await player.send({"type": "ack", "frame": 1})
    last_seen = max(player.frames)
    while True:  # frames already on their way, then the error, then the close
        message = await player.ws.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            break
        if message.get("text"):
            error = json.loads(message["text"])
            if error["type"] == "error":
                assert (error["code"], error["fatal"]) == ("server_error", True)
        elif message.get("bytes"):
            last_seen = p.FrameHeader.unpack(message["bytes"]).frame
    assert message["code"] == p.CLOSE_SERVER_ERROR
    # The same path as a dropped socket: paused for the grace, then ended as abandoned.
    assert engine.parked().holds(player.episode)
    episode = await ended(player.episode, timeout=GRACE + 5)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert episode.steps <= last_seen + 1  # nothing was played after the socket went
    assert await episode.transitions.acount() == episode.steps


async def test_it_lets_go_of_the_game_when_the_consumer_itself_fails(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    player = await playing("pong", alice, frames=30)

    async def broken(self: PlayConsumer, notice: Any) -> None:
        raise RuntimeError("a bug outside any message handler's error handling")

    monkeypatch.setattr(PlayConsumer, "episode_finalised", broken)
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(
        f"player.{alice.pk}",
        {"type": "episode.finalised", "episode": "x", "status": "", "verification": "", "steps": 0},
    )
    last_seen = max(player.frames)
    with pytest.raises(RuntimeError):
        while True:
            message = await player.ws.receive_output(timeout=5)
            if message.get("bytes"):
                last_seen = p.FrameHeader.unpack(message["bytes"]).frame
    # Paused as for a dropped socket (Channels' own clean-up of the failed consumer can take
    # longer than this test's grace, so the pause may be over already), then ended.
    episode = await ended(player.episode, timeout=GRACE + 5)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert episode.steps <= last_seen + 1


async def test_it_ends_a_game_left_without_a_socket_whatever_the_reason(
    pong: Any, alice: Any
) -> None:
    player = await playing("pong", alice, frames=20)
    session = hosted(player.episode)
    assert isinstance(session.transport, PlayConsumer)
    # The socket is gone, and nothing told the game (the case the sweeper exists for).
    session.transport.attached = False
    await asyncio.sleep(0.3)
    steps_when_left = session.episode.recorder.steps if session.episode else -1
    assert await engine.sweeper().sweep() == 0  # within the grace: it may yet come back
    assert player.episode in engine.attended()  # and its heartbeat goes on
    await asyncio.sleep(GRACE)
    assert player.episode not in engine.attended()  # past it, its heartbeat stops
    assert await engine.sweeper().sweep() == 1
    episode = await ended(player.episode)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    # Nobody saw a step after the socket went, so none was recorded.
    assert episode.steps == steps_when_left
    assert player.episode not in engine.heartbeat().live


async def test_it_ends_a_turn_based_game_whose_socket_went(hanoi: Any, alice: Any) -> None:
    player = Player(await connect("tower-of-hanoi", alice))
    await player.open()
    await player.start()
    await player.play(frames=0)
    await player.press("Space")
    await player.play(frames=1)
    await player.ws.disconnect(code=1006)
    episode = await ended(player.episode, timeout=GRACE + 5)
    assert (episode.end_reason, episode.steps) == ("abandoned", 1)
    assert await Episode.objects.filter(status="active").acount() == 0
