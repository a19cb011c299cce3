"""A hosted machine (an ALE in a process of its own) plays exactly as one in this process, and
the pool hands them out only when a build here would stall a game being played."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from games.catalogue import ATARI_KWARGS
from games.engine.hosted import HostedMachine, HostError, open_hosts
from games.engine.machines import AtariMachine, GameConfig, GymMachine, build_machine
from games.engine.pool import MachinePool
from games.engine.registry import register_all

PONG = "ALE/Pong-v5"


@pytest.fixture(autouse=True)
def _envs() -> None:
    register_all()


def config(env_id: str = PONG, **kwargs: Any) -> GameConfig:
    return GameConfig(
        slug="test",
        title="Test",
        env_id=env_id,
        env_kwargs={**ATARI_KWARGS, **kwargs} if env_id.startswith("ALE/") else kwargs,
        fps=60,
        turn_based=False,
        key_map={},
        default_action=0,
        max_steps=100_000,
        n_actions=6,
    )


def assert_same(hosted: HostedMachine, local: AtariMachine) -> None:
    assert np.array_equal(hosted.frame, local.frame)
    assert hosted.palette is not None and local.palette is not None
    assert np.array_equal(hosted.palette.rgb, local.palette.rgb)


def test_it_plays_exactly_as_a_machine_in_this_process() -> None:
    # Sticky actions on, so the repeats' RNG is exercised on the host's side too.
    kwargs = {**ATARI_KWARGS, "repeat_action_probability": 0.25}
    hosted = HostedMachine(PONG, kwargs)
    local = AtariMachine(PONG, kwargs)
    try:
        assert hosted.action_meanings == local.action_meanings
        assert hosted.start(11, None) == local.start(11, None)
        assert hosted.diff is None and hosted.changed is None
        assert_same(hosted, local)
        rng = random.Random(3)
        for _ in range(600):
            action = rng.randrange(len(local.action_meanings))
            ours, theirs = hosted.step(action), local.step(action)
            assert (ours.reward, ours.terminated, ours.truncated, ours.lives, ours.info) == (
                theirs.reward,
                theirs.terminated,
                theirs.truncated,
                theirs.lives,
                theirs.info,
            )
            assert hosted.new_colours() == local.new_colours()
            assert np.array_equal(hosted.diff, local.diff)  # type: ignore[arg-type]
            assert np.array_equal(hosted.changed, local.changed)  # type: ignore[arg-type]
            assert_same(hosted, local)
            if rng.random() < 0.1:  # what an agent's ram observation reads
                assert np.array_equal(hosted.ram(), local.ram())
    finally:
        hosted.close()
        local.close()


def test_it_hands_its_episode_over_to_a_machine_in_this_process_and_back() -> None:
    hosted = HostedMachine(PONG, dict(ATARI_KWARGS))
    local = AtariMachine(PONG, dict(ATARI_KWARGS))
    try:
        hosted.start(5, None)
        for action in [2, 3] * 50:
            hosted.step(action)
        local.thaw(hosted.freeze())
        assert_same(hosted, local)
        for action in [3, 2] * 40:
            local.step(action)
        hosted.thaw(local.freeze())
        assert hosted.diff is None
        for action in [2] * 30:
            hosted.step(action)
            local.step(action)
            assert_same(hosted, local)
    finally:
        hosted.close()
        local.close()


def test_it_says_so_when_its_process_dies() -> None:
    hosted = HostedMachine(PONG, dict(ATARI_KWARGS))
    hosted.start(1, None)
    pid = hosted._process.pid
    assert pid is not None and hosted.alive
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(HostError, match="process is gone"):
        hosted.step(0)
    assert not hosted.alive
    with pytest.raises(HostError, match="closed"):
        hosted.step(0)


def test_it_gives_up_on_a_host_that_stops_answering_instead_of_stalling_the_loop() -> None:
    hosted = HostedMachine(PONG, dict(ATARI_KWARGS))
    hosted.start(1, None)
    pid = hosted._process.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(HostError, match="did not answer in time"):
            hosted.step(0)
        assert time.monotonic() - began < 5
        assert not hosted.alive
    finally:
        os.kill(pid, signal.SIGCONT)


def test_it_refuses_a_game_it_cannot_build_with_the_reason() -> None:
    with pytest.raises(HostError, match="could not build ALE/Pong-v5"):
        HostedMachine(PONG, {**ATARI_KWARGS, "mode": 99})


def test_it_answers_a_failed_request_and_goes_on() -> None:
    hosted = HostedMachine(PONG, dict(ATARI_KWARGS))
    try:
        hosted.start(1, None)
        with pytest.raises(HostError, match=r"UnpicklingError|pickle"):
            hosted.thaw(b"not a frozen machine")
        hosted.start(2, None)  # the host is still there, and serves the next request
        hosted.step(0)
    finally:
        hosted.close()


async def test_a_quiet_process_builds_here_and_a_busy_one_hosts() -> None:
    pool = MachinePool(use_helper=False)
    try:
        first, _, _ = await pool.acquire(config())
        assert isinstance(first, AtariMachine)  # nothing was being played: nobody to stall
        second, _, _ = await pool.acquire(config())
        assert isinstance(second, HostedMachine)  # the first game is being played
        assert pool.in_play == 2
        pool.release(config(), first)
        pool.release(config(), second)
        assert pool.in_play == 0
        # Idle machines are reused; the in-process one first (no round trip a step).
        again, _, _ = await pool.acquire(config())
        assert again is first
        hosted_again, _, _ = await pool.acquire(config())
        assert hosted_again is second
        pool.release(config(), again)
        pool.release(config(), hosted_again)
    finally:
        pool.shutdown()
    assert isinstance(second, HostedMachine)
    assert not second.alive  # shutdown closes idle hosts


async def test_a_burst_of_starts_on_a_quiet_process_builds_only_its_first_here() -> None:
    pool = MachinePool(use_helper=False)
    try:
        got = await asyncio.gather(*(pool.acquire(config()) for _ in range(4)))
        machines = [machine for machine, _, _ in got]
        assert sum(isinstance(m, AtariMachine) for m in machines) == 1
        assert sum(isinstance(m, HostedMachine) for m in machines) == 3
        for machine in machines:
            pool.release(config(), machine)
        # Two idle hosts are kept per game (max_idle_hosted), the third is closed.
        assert sum(isinstance(m, HostedMachine) and m.alive for m in machines) == 2
    finally:
        pool.shutdown()


async def test_programs_games_are_built_here_while_no_person_plays() -> None:
    pool = MachinePool(use_helper=False)
    try:
        got = await asyncio.gather(*(pool.acquire(config(), watched=False) for _ in range(3)))
        programs = [machine for machine, _, _ in got]
        # Nobody sees a program's answers held up by a build; a round trip a step costs it.
        assert all(isinstance(m, AtariMachine) for m in programs)
        person, _, _ = await pool.acquire(config())
        assert isinstance(person, AtariMachine)  # only programs were playing
        late, _, _ = await pool.acquire(config(), watched=False)
        assert isinstance(late, HostedMachine)  # a person's game is played now
        for machine in [*programs, person, late]:
            pool.release(config(), machine)
        assert pool.in_play == 0
    finally:
        pool.shutdown()


async def test_a_dead_host_is_never_handed_out_again() -> None:
    pool = MachinePool(use_helper=False)
    try:
        local, _, _ = await pool.acquire(config())
        hosted, _, _ = await pool.acquire(config())
        assert isinstance(hosted, HostedMachine)
        hosted._conn.close()  # as after a HostError
        pool.release(config(), hosted)
        pool.release(config(), local)
        taken = [await pool.acquire(config()) for _ in range(2)]
        assert taken[0][0] is local
        assert taken[1][0] is not hosted
        for machine, _, _ in taken:
            pool.release(config(), machine)
    finally:
        pool.shutdown()


async def test_past_its_cap_of_hosts_a_busy_process_builds_here_again() -> None:
    pool = MachinePool(use_helper=False, max_hosted=open_hosts() + 1)
    try:
        machines = [machine for machine, _, _ in [await pool.acquire(config()) for _ in range(3)]]
        kinds = [type(machine).__name__ for machine in machines]
        assert kinds == ["AtariMachine", "HostedMachine", "AtariMachine"]
        for machine in machines:
            pool.release(config(), machine)
    finally:
        pool.shutdown()


async def test_games_that_are_cheap_to_build_are_never_hosted() -> None:
    pool = MachinePool(use_helper=False)
    hanoi = config("arcade/TowerOfHanoi-v0")
    try:
        playing, _, _ = await pool.acquire(config())
        other, _, _ = await pool.acquire(hanoi)
        assert isinstance(other, GymMachine)
        pool.release(hanoi, other)
        pool.release(config(), playing)
    finally:
        pool.shutdown()


async def test_hosting_can_be_turned_off() -> None:
    pool = MachinePool(use_helper=False, host_cold_starts=False)
    try:
        machines = [machine for machine, _, _ in [await pool.acquire(config()) for _ in range(2)]]
        assert all(isinstance(m, AtariMachine) for m in machines)
        for machine in machines:
            pool.release(config(), machine)
    finally:
        pool.shutdown()


def test_build_machine_still_builds_here() -> None:
    machine = build_machine(config())
    assert isinstance(machine, AtariMachine)
    machine.close()


async def test_a_hosted_machine_seeds_its_episode_itself_not_through_the_helper() -> None:
    pool = MachinePool(use_helper=True, stock=1)
    try:
        first, _, _ = await pool.acquire(config())  # in-process, its start state from the helper
        ordered = list(pool._stock[config().pool_key])
        hosted, seed, _ = await pool.acquire(config())
        assert isinstance(hosted, HostedMachine)
        assert list(pool._stock[config().pool_key]) == ordered  # nothing taken, nothing ordered
        reference = AtariMachine(PONG, dict(ATARI_KWARGS))
        reference.start(seed, None)
        assert_same(hosted, reference)
        reference.close()
        for machine in (first, hosted):
            pool.release(config(), machine)
    finally:
        pool.shutdown()


def test_a_process_with_open_hosts_exits_and_takes_them_with_it(tmp_path: Path) -> None:
    # A host ignores SIGTERM (it outlives a draining web process), so an exit that left its
    # pipe open would wait for it for ever in multiprocessing's exit handler.
    script = tmp_path / "leaves_hosts_open.py"
    script.write_text(
        "from games.catalogue import ATARI_KWARGS\n"
        "from games.engine.hosted import HostedMachine\n"
        "if __name__ == '__main__':\n"
        "    hosts = [HostedMachine('ALE/Pong-v5', dict(ATARI_KWARGS)) for _ in range(2)]\n"
        "    hosts[0].start(1, None)\n"
        "    print(*(h._process.pid for h in hosts), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for pid in map(int, done.stdout.split()):
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), f"host {pid} outlived its web process"
