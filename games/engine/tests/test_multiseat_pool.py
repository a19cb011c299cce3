"""Multi-seat games (``multi/<name>``) are built, pooled and seeded like one-seat ALE games, and
an episode the pool started is the one ``start(seed, None)`` begins (replay relies on it)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from games.catalogue import ATARI_KWARGS
from games.engine.machines import (
    GameConfig,
    SeatConfig,
    build_machine,
    is_multi_machine,
)
from games.engine.multiplayer import MultiAtariMachine, MultiMachine
from games.engine.pool import MachinePool


def config(env_id: str = "multi/pong", **kwargs: Any) -> GameConfig:
    return GameConfig(
        slug="pong-2p",
        title="Pong for two",
        env_id=env_id,
        env_kwargs={**ATARI_KWARGS, **kwargs},
        fps=60,
        turn_based=False,
        key_map={},
        default_action=0,
        max_steps=100_000,
        n_actions=6,
        seats=(SeatConfig(index=0), SeatConfig(index=1)),
    )


def digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest()


def played(machine: MultiMachine, steps: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    hashes = [digest(machine.frame)]
    for joint in rng.integers(len(machine.action_meanings[0]), size=(steps, machine.seats)):
        machine.step([int(action) for action in joint])
        machine.new_colours()
        hashes.append(digest(machine.frame))
    return hashes


@pytest.fixture
def pool() -> Iterator[MachinePool]:
    pool = MachinePool(stock=1)
    yield pool
    pool.shutdown()


def test_it_builds_a_multi_seat_machine_for_a_multi_game() -> None:
    machine = build_machine(config("multi/boxing", repeat_action_probability=0.25))

    assert isinstance(machine, MultiAtariMachine) and is_multi_machine(machine)
    assert (machine.game.name, machine.seats, machine.sticky) == ("boxing", 2, 0.25)
    assert config("multi/boxing").multi_seat and not config("ALE/Pong-v5").multi_seat


def test_it_refuses_a_multi_seat_game_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="no multi-seat game 'pacman'"):
        build_machine(config("multi/pacman"))


def test_it_starts_a_pooled_episode_as_start_with_its_seed_would(pool: MachinePool) -> None:
    game = config(repeat_action_probability=0.25)  # the seats' sticky actions are seeded too

    machine, seed, colours = asyncio.run(pool.acquire(game))

    assert is_multi_machine(machine) and colours
    live = played(machine, 200, seed=3)
    fresh = build_machine(game)
    assert is_multi_machine(fresh)
    fresh.start(seed, None)
    assert played(fresh, 200, seed=3) == live
    pool.release(game, machine)


def test_it_hands_the_same_machine_out_again_after_release(pool: MachinePool) -> None:
    game = config()
    first, _, _ = asyncio.run(pool.acquire(game))
    pool.release(game, first)

    again, _, _ = asyncio.run(pool.acquire(game))

    assert again is first and pool.in_play == 1
    assert isinstance(again, MultiAtariMachine) and again.steps == 0  # a new episode
    pool.discard(again)
    assert pool.in_play == 0


def test_it_never_hands_out_a_discarded_machine(pool: MachinePool) -> None:
    game = config()
    machine, _, _ = asyncio.run(pool.acquire(game))
    pool.discard(machine)

    other, _, _ = asyncio.run(pool.acquire(game))

    assert other is not machine
    pool.release(game, other)


def test_it_prewarms_multi_seat_machines_and_their_start_state(pool: MachinePool) -> None:
    game = config()
    pool.prewarm([game], per_game=2)

    assert len(pool._idle[game.pool_key]) == 2
    # Pong's start does not depend on its seed: one state starts every episode.
    assert pool.shared_start(game) is not None and not pool._stock[game.pool_key]
    machine, _, _ = asyncio.run(pool.acquire(game))
    assert isinstance(machine, MultiAtariMachine) and machine.steps == 0
    pool.release(game, machine)
