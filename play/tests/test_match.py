"""The match, its seats, viewers and clocks, alone: no database, no socket, no Django.

A fake sink keeps what the match would have recorded; transports keep what would have gone to
a socket. The machines are the real ones (two-player Pong through multi-agent-ale-py).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from games.catalogue import PONG_2P_KEYS
from games.engine.machines import GameConfig, SeatConfig
from games.engine.multireplay import replay_multi
from games.engine.policies import RandomPolicy
from games.engine.pool import MachinePool
from play import protocol as p
from play.clocks import DeadlineClock, LockstepClock, RequestClock, TurnClock
from play.match import LiveSettings, Match
from play.protocol import EndReason
from play.seats import Holder, PolicySeat, ScriptedSeat
from play.viewers import PROBE_EVERY, Viewer
from recording import chunkfile, stepcolumns
from recording.recorder import InputStamp

PONG_2P = GameConfig(
    slug="pong-2p",
    title="Pong for two",
    env_id="multi/pong",
    env_kwargs={},
    fps=60,
    turn_based=False,
    key_map=PONG_2P_KEYS,
    default_action=0,
    max_steps=150,
    n_actions=6,
    two_sided_score=True,
    seats=(SeatConfig(index=0, role="green"), SeatConfig(index=1, role="orange")),
)


class Sink:
    """Keeps what a match hands its recording."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.taken: list[tuple[int, Holder, int]] = []
        self.blobs: dict[int, bytes] = {}
        self.closed: list[dict[str, Any]] = []
        self.discarded: list[str] = []

    async def create(self, **fields: Any) -> str:
        self.created.append(fields)
        return f"00000000-0000-0000-0000-{len(self.created):012d}"

    async def seat_taken(self, *, episode: str, index: int, holder: Holder, from_step: int) -> None:
        self.taken.append((index, holder, from_step))

    async def ship(self, *, episode: str, index: int, blob: bytes) -> None:
        self.blobs[index] = blob

    async def close(self, **fields: Any) -> None:
        self.closed.append(fields)

    async def discard(self, *, episode: str) -> None:
        self.discarded.append(episode)

    def hosted(self, episode: str, *, here: bool) -> None:
        pass


class Screen:
    """A transport that keeps what it was sent; ``acks`` says whether its client acks."""

    def __init__(self) -> None:
        self.attached = True
        self.frames: list[p.FrameHeader] = []
        self.texts: list[dict[str, Any]] = []

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(p.FrameHeader.unpack(data[: p.FRAME_HEADER.size]))

    async def send_json(self, message: Any) -> None:
        self.texts.append(dict(message))


def columns(sink: Sink) -> dict[str, list[Any]]:
    steps = stepcolumns.empty()
    for index in sorted(sink.blobs):
        stepcolumns.extend(steps, chunkfile.read_header(sink.blobs[index])["steps"])
    return stepcolumns.by_name(steps)


@pytest.fixture
def pool() -> MachinePool:
    return MachinePool(use_helper=False, host_cold_starts=False, stock=0)


async def play_out(match: Match) -> dict[str, Any]:
    assert await match.start()
    ended: asyncio.Future[EndReason] = asyncio.get_running_loop().create_future()
    match.on_end = ended.set_result
    match.begin()
    await asyncio.wait_for(ended, 30)
    return {"reason": ended.result()}


async def test_a_match_steps_the_joint_action_of_its_seats_and_records_each_seat(
    pool: MachinePool,
) -> None:
    sink = Sink()
    left = ScriptedSeat(lambda step: 2 if step % 20 < 10 else 3, holder=Holder("human", 7))
    right = ScriptedSeat(lambda step: 3, holder=Holder("policy", policy_id=4))
    match = Match(
        game=PONG_2P,
        store=sink,
        pool=pool,
        settings=LiveSettings(chunk_steps=40),
        seats=[left, right],
        clock=LockstepClock[EndReason](),
    )
    assert (await play_out(match))["reason"] == "truncated"
    created = sink.created[0]
    assert [h.key for h in created["holders"]] == ["user:7", "policy:4"]
    assert created["roles"] == ["green", "orange"]
    steps = columns(sink)
    assert len(steps["action"]) == 150 and sink.closed[0]["steps"] == 150
    joint = steps["seat_actions"]
    assert joint[0] == [2, 3] and joint[10] == [3, 3]
    assert steps["action"] == [pair[0] for pair in joint]  # the classic column: seat 0's
    assert steps["seat_holders"][0] == ["user:7", "policy:4"]
    # The recording replays bit for bit from the seed and the joint actions.
    seed = created["seed"]
    replayed = list(replay_multi("pong", {}, seed, [tuple(pair) for pair in joint]))
    assert [frame.rewards for frame in replayed[1:]] == [tuple(r) for r in steps["seat_rewards"]]


async def test_a_seat_that_changes_hands_is_recorded_from_the_next_step(
    pool: MachinePool,
) -> None:
    sink = Sink()
    match = Match(
        game=PONG_2P,
        store=sink,
        pool=pool,
        settings=LiveSettings(),
        seats=[ScriptedSeat(lambda step: 0), ScriptedSeat(lambda step: 0)],
        clock=LockstepClock[EndReason](),
    )
    assert await match.start()
    episode = match.episode
    assert episode is not None
    for _ in range(30):
        match.advance(episode)
    executor = ThreadPoolExecutor(1)
    ai = PolicySeat(
        RandomPolicy(n_actions=6, every_k=4), executor, holder=Holder("policy", policy_id=9)
    )
    await match.replace_seat(1, ai)
    for _ in range(40):
        stepped = match.advance(episode)
        await asyncio.sleep(0.002)  # the decision thread's turn
    assert sink.taken == [(1, ai.holder, 30)]
    assert stepped.actions[0] == 0
    await match.stop("abandoned")
    steps = columns(sink)
    assert steps["seat_holders"][29][1] == "script"
    assert steps["seat_holders"][30][1] == "policy:9"
    fresh = [flags[1] for flags in steps["seat_fresh"][30:]]
    assert any(fresh) and not all(fresh)  # it decides every 4 frames and holds between


async def test_a_stalled_viewer_drops_its_own_frames_only(pool: MachinePool) -> None:
    sink = Sink()
    player, stalled = Screen(), Screen()
    match = Match(
        game=PONG_2P,
        store=sink,
        pool=pool,
        settings=LiveSettings(window=10),
        seats=[ScriptedSeat(lambda step: 0), ScriptedSeat(lambda step: 0)],
        clock=LockstepClock[EndReason](),
    )
    players_screen = Viewer(player, window=10, seat=0)
    match.viewers.append(players_screen)
    await match.watch(Viewer(stalled, window=10))  # a spectator that never acks
    assert await match.start()
    episode = match.episode
    assert episode is not None
    for _ in range(100):
        await match._step(episode)
        players_screen.on_ack(episode.recorder.steps)  # the player keeps up
    await match.stop("abandoned")
    seen_by_player = [h.frame for h in player.frames]
    assert seen_by_player == list(range(101))  # every frame, none dropped
    seen_by_spectator = [h.frame for h in stalled.frames]
    assert len(seen_by_spectator) < 30  # its window, then a probe every PROBE_EVERY
    assert all(h.input_seq == 0 for h in stalled.frames)
    assert PROBE_EVERY in np.diff(seen_by_spectator[10:])


async def test_a_human_seat_reads_its_keys_and_an_empty_seat_chooses_nothing() -> None:
    match = Match(game=PONG_2P, store=None, pool=None, settings=LiveSettings())
    empty = match.human_seat(0)
    assert empty.take() == (0, False)  # nobody there: the default action, nobody's choice
    person = match.human_seat(0, holder=Holder("human", user_id=3))
    person.on_input(
        p.InputMessage(type="input", seq=1, keys=["ArrowUp"], frame=0, t_shown=1.0, t_key=2.0)
    )
    assert person.take() == (2, True)  # UP: the combo for the paddle going up
    with pytest.raises(p.ProtocolError):  # out of order
        person.on_input(
            p.InputMessage(type="input", seq=1, keys=[], frame=0, t_shown=1.0, t_key=2.0)
        )


def test_a_scripted_seat_stamps_each_step_as_its_script_says() -> None:
    seat = ScriptedSeat(lambda step: step % 3, stamp_of=lambda step: InputStamp(seq=step))
    taken = [seat.take() for _ in range(4)]
    assert taken == [(0, True), (1, True), (2, True), (0, True)]
    assert seat.stamp.seq == 3
    seat.reset(0)
    assert seat.take() == (0, True)


async def test_the_lockstep_clock_steps_until_a_step_says_why_it_ended() -> None:
    steps = 0

    async def step() -> str | None:
        nonlocal steps
        steps += 1
        return "done" if steps == 500 else None

    assert await LockstepClock[str]().run(step, lambda: None) == "done"
    assert steps == 500


async def test_the_turn_clock_steps_once_a_move_and_idles_between() -> None:
    clock = TurnClock[str](idle_seconds=0.01)
    taken: list[int] = []
    idles = 0

    async def step() -> str | None:
        taken.append(len(taken))
        return "done" if len(taken) == 3 else None

    def idle() -> None:
        nonlocal idles
        idles += 1
        if idles in (2, 4, 6):
            clock.move()

    assert await asyncio.wait_for(clock.run(step, idle), 5) == "done"
    assert taken == [0, 1, 2] and idles >= 6


async def test_the_request_clock_steps_once_a_request_answers_each_and_idles_between() -> None:
    clock = RequestClock[str](idle_seconds=0.01)
    taken: list[int] = []
    idles = 0

    async def step() -> str | None:
        taken.append(len(taken))
        return "done" if len(taken) == 4 else None

    def idle() -> None:
        nonlocal idles
        idles += 1

    running = asyncio.ensure_future(clock.run(step, idle))
    assert await clock.request() is None and taken == [0]
    # Asked twice before it runs again: two steps, each request answered by its own.
    first, second = clock.request(), clock.request()
    assert await first is None and await second is None and taken == [0, 1, 2]
    await asyncio.sleep(0.05)
    assert idles >= 2 and taken == [0, 1, 2]  # nothing asked: no step, idle meanwhile
    assert await clock.request() == "done"
    assert await asyncio.wait_for(running, 5) == "done"


async def test_the_deadline_clock_steps_on_the_shared_ticker_and_hurries_on_request() -> None:
    clock = DeadlineClock[str](fps=240)
    count = 0

    async def step() -> str | None:
        nonlocal count
        count += 1
        if count == 5:
            clock.hurry()  # a key changed: the next step may come at once
        return "done" if count == 24 else None

    assert await asyncio.wait_for(clock.run(step, lambda: None), 5) == "done"
    assert count == 24


async def test_it_scores_two_player_pong_as_its_screen_does_a_held_serve_no_point(
    pool: MachinePool,
) -> None:
    # Nobody moves: the ball is served once by the game, then each side that gets it holds its
    # serve, and two-player Pong takes a point of that side's return every two seconds (-1 to
    # it, 0 to the other), which the screen does not count as the other side's point.
    match = Match(
        game=PONG_2P,
        store=Sink(),
        pool=pool,
        settings=LiveSettings(),
        seats=[ScriptedSeat(lambda step: 0), ScriptedSeat(lambda step: 0)],
        clock=LockstepClock[EndReason](),
    )
    assert await match.start()
    episode = match.episode
    assert episode is not None
    rewards = [match.advance(episode).rewards for _ in range(600)]
    await match.stop("abandoned")
    penalties = [pair for pair in rewards if sorted(pair) == [-1.0, 0.0]]
    assert len(penalties) >= 2  # what the screen does not count
    won = [sum(max(pair[seat], 0.0) for pair in rewards) for seat in (0, 1)]
    assert episode.points == [[won[0], won[1]], [won[1], won[0]]]
    assert episode.returns[0] + episode.returns[1] == -len(penalties)
