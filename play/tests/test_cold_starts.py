"""No player freezes another: a burst of cold starts (no idle machine, no seeded start state)
is built outside the web process while another player's game keeps its clock."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import User
from games.engine.hosted import HostedMachine
from play import engine
from recording.models import Episode

from .sockets import connect, end_every_game
from .test_consumers import Player
from .test_reconnect import ended

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

BURST = 12


async def test_it_builds_a_burst_of_cold_starts_without_freezing_another_players_game(
    pong: Any, alice: Any, make_game: Any, settings: Any
) -> None:
    # The workers run in this process here (eager Celery): replaying episodes while they are
    # played would be this process's emulation too, which in production is the workers'.
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 0}
    # A game nobody has played on this process: its pool holds no machine, its helper no
    # seeded start state, so every start of the burst builds an emulator (~70 ms of ALE).
    cold = await sync_to_async(make_game)("seaquest", env_kwargs={**_kwargs(), "mode": 0})
    assert engine.pool()._take(await sync_to_async(cold.config)()) is None
    victim = Player(await connect("pong", alice))
    await victim.open()
    await victim.start()
    await victim.play(frames=60)

    users = [
        await sync_to_async(User.objects.create_user)(f"cold{n}@example.org", "a-password-1")
        for n in range(BURST)
    ]
    starters = [Player(await connect("seaquest", user)) for user in users]
    for starter in starters:
        await starter.open()
    loop = asyncio.get_running_loop()
    began = loop.time()
    began_wall = time.time()

    async def start(starter: Player) -> None:
        await starter.start()
        await starter.play(frames=1)

    playing = asyncio.ensure_future(victim.play(frames=10**9))
    await asyncio.gather(*(start(s) for s in starters))
    await asyncio.sleep(0.5)
    playing.cancel()
    burst_seconds = loop.time() - began
    burst_wall = (began_wall, time.time())
    for starter in [*starters, victim]:
        await starter.ws.disconnect()
    await end_every_game()

    episode = await ended(victim.episode, timeout=10)
    times = [
        t
        async for t in episode.transitions.filter(t_step__range=burst_wall)
        .order_by("step")
        .values_list("t_step", flat=True)
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # One frame is 16.7 ms. Built on the loop, the burst froze this game for BURST builds in
    # a row (0.8 s and more); built on a thread of this process, each build still stopped it
    # for the length of a ROM load (ale-py holds the GIL: 70-100 ms, a dozen hitches). Built
    # in processes of their own, the builds cost it nothing but a share of the cores.
    assert len(times) > 30 * burst_seconds
    late = [round(gap, 3) for gap in gaps if gap > 0.05]
    assert len(late) <= 1, f"{len(late)} steps came late: {late}"
    assert await Episode.objects.filter(game=cold).acount() == BURST


def _kwargs() -> dict[str, Any]:
    from games.catalogue import ATARI_KWARGS

    return dict(ATARI_KWARGS)


async def test_a_game_whose_hosted_emulator_dies_ends_with_every_step_kept(
    pong: Any, alice: Any, bob: Any
) -> None:
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.play(frames=30)
    # Alice's game is being played, so Bob's machine is hosted in a process of its own.
    second = Player(await connect("pong", bob))
    await second.open()
    await second.start()
    await second.play(frames=30)
    session = next(s for s in engine._sessions if s.episode and s.episode.id == second.episode)
    hosted = session.episode.machine  # type: ignore[union-attr]
    assert isinstance(hosted, HostedMachine)
    assert hosted._process.pid is not None
    os.kill(hosted._process.pid, signal.SIGKILL)

    end = await second.next_text("episode_end")
    assert end["reason"] == "error"
    assert end["steps"] >= 30
    # Alice plays on, and Bob can start a new game (its machine is not the dead one).
    alice_frame = (await first.play(frames=0)).frame
    assert (await first.play(frames=alice_frame + 30)).frame >= alice_frame + 30
    lost = second.episode
    await second.start()
    await second.play(frames=5)
    for player in (first, second):
        await player.ws.disconnect()
    await end_every_game()

    episode = await ended(lost, timeout=10)
    assert episode.end_reason == "error"
    assert episode.steps == end["steps"]
    assert episode.status == "complete"
    assert episode.verification == "verified", episode.integrity_error


async def test_a_machine_that_raises_ends_its_game_and_is_never_reused(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=20)
    session = next(s for s in engine._sessions if s.episode and s.episode.id == player.episode)
    machine = session.episode.machine  # type: ignore[union-attr]

    def broken(action: int) -> Any:
        raise RuntimeError("the emulator broke")

    machine.step = broken  # type: ignore[method-assign]
    end = await player.next_text("episode_end")
    assert end["reason"] == "error"
    assert machine not in engine.pool()._idle[(await sync_to_async(pong.config)()).pool_key]
    await player.ws.disconnect()
    await end_every_game()
    episode = await ended(end["episode"], timeout=10)
    assert (episode.end_reason, episode.steps) == ("error", end["steps"])
