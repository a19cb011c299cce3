"""A dropped socket pauses the game; the player's new socket resumes the same episode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.conf import LazySettings

from games.engine.machines import AtariMachine
from play import engine
from play import protocol as p
from play.parking import ParkedSessions
from recording import chunkfile
from recording.models import Chunk, Episode

from .sockets import connect
from .test_consumers import Player

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

GRACE = 2.0


@pytest.fixture(autouse=True)
async def grace(settings: LazySettings) -> AsyncIterator[None]:
    settings.ARCADE = {**settings.ARCADE, "RECONNECT_GRACE_SECONDS": GRACE}
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()
    yield
    # A game still paused would hold a seat in the tests that follow.
    await engine.parked().end_all()
    engine.live_settings.cache_clear()
    engine.parked.cache_clear()


async def drop(player: Player) -> None:
    """The socket goes away mid-game (network, reload), without a word from the page."""
    await player.ws.disconnect(code=1006)


async def rejoin(slug: str, user: Any) -> Player:
    player = Player(await connect(slug, user))
    await player.open()
    return player


async def ended(episode_id: str, timeout: float = 5) -> Episode:
    for _ in range(int(timeout / 0.05)):
        episode = await Episode.objects.aget(pk=episode_id)
        if episode.status in ("complete", "incomplete"):
            return episode
        await asyncio.sleep(0.05)
    raise AssertionError(f"episode {episode_id} did not end")


async def test_it_resumes_a_dropped_game_where_it_paused(pong: Any, alice: Any) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.play(frames=30)
    await drop(first)
    await asyncio.sleep(0.1)  # paused: no steps while nobody watches

    second = await rejoin("pong", alice)
    assert second.hello["reconnect_grace"] == GRACE
    await second.send({"type": "resume", "episode": first.episode})
    resumed = await second.next_text("episode")
    header = await second.play(frames=0)

    assert resumed["episode"] == first.episode and resumed["resumed"] is True
    steps = resumed["steps"]
    assert 30 <= steps <= 35  # the game did not run on while paused
    assert header.kind == p.KIND_KEYFRAME and header.frame == steps
    last = await second.play(frames=steps + 40)
    assert last.frame >= steps + 40
    await second.ws.disconnect()


async def test_it_records_the_drop_as_a_pause_of_the_resumed_episode(pong: Any, alice: Any) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.play(frames=30)
    await drop(first)
    await asyncio.sleep(0.3)
    second = await rejoin("pong", alice)
    await second.send({"type": "resume", "episode": first.episode})
    resumed = await second.next_text("episode")
    assert resumed["paused"] is False  # it was being played: it goes on at once
    await second.play(frames=resumed["steps"] + 10)
    await second.ws.disconnect()
    episode = await ended(first.episode)
    [pause] = episode.pauses
    assert (pause["step"], pause["why"]) == (resumed["steps"], "reconnect")
    assert pause["seconds"] >= 0.3


async def test_it_keeps_a_game_that_had_not_begun_waiting_after_a_resume(
    pong: Any, alice: Any
) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start(begin=False)
    await first.play(frames=0)
    await drop(first)
    second = await rejoin("pong", alice)
    await second.send({"type": "resume", "episode": first.episode})
    resumed = await second.next_text("episode")
    assert (resumed["steps"], resumed["paused"]) == (0, True)
    header = await second.play(frames=0)
    assert header.kind == p.KIND_KEYFRAME and header.frame == 0
    assert await second.ws.receive_nothing(timeout=0.3)  # still waiting for the player
    await second.send({"type": "begin"})
    assert (await second.play(frames=5)).frame == 5
    await second.ws.disconnect()
    episode = await ended(first.episode)
    assert episode.pauses == []  # it had not begun: nothing was paused


async def test_it_records_a_resumed_episode_as_one_episode_with_every_step(
    pong: Any, alice: Any
) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.play(frames=50)
    await drop(first)
    second = await rejoin("pong", alice)
    await second.send({"type": "resume", "episode": first.episode})
    await second.next_text("episode")
    await second.play(frames=120)
    await second.ws.disconnect()  # and this time the player does not come back

    episode = await ended(first.episode)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert episode.steps >= 120
    assert await episode.transitions.acount() == episode.steps
    stored: list[np.ndarray] = []
    previous = None
    async for chunk in Chunk.objects.filter(episode=episode).order_by("index"):
        with chunk.file.open("rb") as handle:
            _, frames = chunkfile.decode(handle.read(), previous)
        previous = frames[-1]
        stored.extend(frames)
    assert len(stored) == episode.steps + 1
    for player in (first, second):
        for number, frame in player.frames.items():
            assert np.array_equal(stored[number], frame), number


@pytest.fixture(params=[0.0, 0.25], ids=["plain", "sticky-actions"])
def any_pong(request: pytest.FixtureRequest, make_game: Any) -> Any:
    kwargs = {"frameskip": 1, "repeat_action_probability": request.param}
    return make_game("pong", env_kwargs={**kwargs, "full_action_space": False})


async def test_it_moves_a_paused_game_to_the_process_the_player_reconnects_to(
    any_pong: Any, alice: Any
) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.press("ArrowRight")
    await first.play(frames=70)
    await drop(first)
    holder = engine.parked()
    # The new socket lands on another web process: it holds no paused game of its own.
    other_process = ParkedSessions(grace=GRACE)
    parked = engine.parked
    engine.parked = lambda: other_process  # type: ignore[assignment]
    try:
        second = await rejoin("pong", alice)
        await second.send({"type": "resume", "episode": first.episode})
        resumed = await second.next_text("episode")
    finally:
        engine.parked = parked
    assert resumed["resumed"] is True and len(holder) == 0
    await second.press("ArrowLeft")
    await second.play(frames=resumed["steps"] + 90)
    await second.ws.disconnect()

    episode = await ended(first.episode)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert await episode.transitions.acount() == episode.steps >= resumed["steps"] + 90
    stored: list[np.ndarray] = []
    previous = None
    async for chunk in Chunk.objects.filter(episode=episode).order_by("index"):
        with chunk.file.open("rb") as handle:
            _, frames = chunkfile.decode(handle.read(), previous)
        previous = frames[-1]
        stored.extend(frames)
    for player in (first, second):
        for number, frame in player.frames.items():
            assert np.array_equal(stored[number], frame), number
    # The emulator went on from exactly where it paused: replaying the recorded actions from
    # the seed gives every stored frame.
    replayed = await sync_to_async(replay_frames)(episode)
    assert len(replayed) == len(stored)
    assert all(np.array_equal(a, b) for a, b in zip(replayed, stored, strict=True))


def replay_frames(episode: Episode) -> list[np.ndarray]:
    machine = AtariMachine(episode.env_spec["env_id"], episode.env_spec["env_kwargs"])
    machine.start(episode.seed, None)
    frames = [machine.frame.copy()]
    for action in episode.transitions.order_by("step").values_list("action", flat=True):
        machine.step(action)
        frames.append(machine.frame.copy())
    return frames


async def test_it_ends_a_game_not_resumed_in_time_as_abandoned(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=20)
    await drop(player)
    assert len(engine.parked()) == 1

    episode = await ended(player.episode)

    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert 20 <= episode.steps <= 25
    assert len(engine.parked()) == 0
    late = await rejoin("pong", alice)
    await late.send({"type": "resume", "episode": player.episode})
    error = await late.next_text("error")
    assert error["code"] == "resume_failed"


async def test_it_never_hands_a_paused_game_to_another_player(
    pong: Any, alice: Any, bob: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=10)
    await drop(player)

    intruder = await rejoin("pong", bob)
    await intruder.send({"type": "resume", "episode": player.episode})
    error = await intruder.next_text("error")
    assert error["code"] == "resume_failed"

    owner = await rejoin("pong", alice)  # still waiting for its own player
    await owner.send({"type": "resume", "episode": player.episode})
    assert (await owner.next_text("episode"))["resumed"] is True
    await owner.ws.disconnect()
    await intruder.ws.disconnect()


async def test_it_refuses_a_resume_naming_no_episode(pong: Any, alice: Any) -> None:
    player = await rejoin("pong", alice)
    await player.send({"type": "resume", "episode": ""})
    error = await player.next_text("error")
    assert error["code"] == "bad_field"
    await player.start()  # and the socket plays on
    await player.play(frames=5)
    await player.ws.disconnect()
