"""A game whose start does not depend on its seed starts every episode from one state.

With ALE's sticky actions off (the machines draw their own from the seed), a seed reaches the
emulation only through the noise Stella leaves in the RAM at power-on, which most games clear
before their first frame. Then one start state, restored, begins the episode ``reset(seed)``
would for any seed, frame for frame, and the pool seeds nothing ahead for the game.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from games.catalogue import ATARI_KWARGS
from games.engine import machines
from games.engine.machines import AtariMachine, GameConfig, atari_shared_start
from games.engine.multiplayer import MultiAtariMachine, multi_shared_start
from games.engine.pool import SEEDS_COMPARED, MachinePool

PONG = "ALE/Pong-v5"


def config(env_id: str = PONG, **kwargs: Any) -> GameConfig:
    return GameConfig(
        slug="test",
        title="Test",
        env_id=env_id,
        env_kwargs={**ATARI_KWARGS, **kwargs},
        fps=60,
        turn_based=False,
        key_map={},
        default_action=0,
        max_steps=100_000,
        n_actions=6,
    )


def digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest()


def played(machine: AtariMachine, steps: int = 300) -> list[str]:
    actions = np.random.default_rng(7).integers(len(machine.action_set), size=steps)
    frames = [digest(machine.frame)]
    for action in actions:
        machine.step(int(action))
        frames.append(digest(machine.frame))
    return frames


@pytest.fixture
def pool() -> Iterator[MachinePool]:
    pool = MachinePool(stock=1)
    yield pool
    pool.shutdown()


@pytest.mark.parametrize("sticky", [0.0, 0.25])
def test_every_seed_of_pong_starts_from_one_state_as_reset_with_that_seed(sticky: float) -> None:
    game = config(repeat_action_probability=sticky)
    shared = atari_shared_start(game.env_id, game.env_kwargs, SEEDS_COMPARED)
    assert shared is not None

    for seed in (5, 2**31 - 2):
        from_shared = AtariMachine(game.env_id, game.env_kwargs)
        from_shared.start(seed, shared)
        reset = AtariMachine(game.env_id, game.env_kwargs)
        reset.start(seed, None)
        # The sticky actions still follow each seed: only the emulator's start is shared.
        assert played(from_shared) == played(reset)


class NoisyAle:
    """An emulator whose RAM keeps the power-on noise of its seed."""

    def __init__(self) -> None:
        self.seed = 0

    def cloneState(self, include_rng: bool = False) -> tuple[str, int]:
        return ("ram", self.seed)

    def getScreen(self) -> np.ndarray:
        return np.zeros((2, 2), np.uint8)

    def getScreenRGB(self) -> np.ndarray:
        return np.zeros((2, 2, 3), np.uint8)


class NoisyEnv:
    def __init__(self) -> None:
        self.unwrapped = self
        self.ale = NoisyAle()

    def reset(self, seed: int) -> None:
        self.ale.seed = seed


def test_a_game_whose_start_keeps_its_seeds_noise_has_no_shared_start() -> None:
    key = ("Noisy-v0", repr([]))
    machines._helper_envs[key] = NoisyEnv()  # type: ignore[assignment]
    try:
        assert atari_shared_start("Noisy-v0", {}, SEEDS_COMPARED) is None
    finally:
        del machines._helper_envs[key]


def test_the_pool_seeds_nothing_ahead_for_a_game_every_seed_starts_alike(
    pool: MachinePool,
) -> None:
    game = config()
    pool.prewarm([game], per_game=1)

    assert pool.shared_start(game) is not None
    assert not pool._stock[game.pool_key]
    machine, seed, colours = asyncio.run(pool.acquire(game, seed=1234))
    assert seed == 1234 and colours
    assert isinstance(machine, AtariMachine)
    reset = AtariMachine(game.env_id, game.env_kwargs)
    reset.start(1234, None)
    assert played(machine) == played(reset)
    pool.release(game, machine)


def test_a_two_player_game_starts_every_seed_from_one_state_too() -> None:
    shared = multi_shared_start("pong", SEEDS_COMPARED)
    assert shared is not None

    from_shared = MultiAtariMachine("pong", repeat_action_probability=0.25)
    from_shared.start(99, shared)
    reset = MultiAtariMachine("pong", repeat_action_probability=0.25)
    reset.start(99, None)
    joints = np.random.default_rng(3).integers(6, size=(300, 2))
    for joint in joints:
        assert pickle.dumps(from_shared.step(list(joint))) == pickle.dumps(reset.step(list(joint)))
        assert digest(from_shared.frame) == digest(reset.frame)
