"""Replay holds the live path to determinism: recorded in this process, replayed in another.

Recording goes the way production records: a pooled machine (one that already played an
episode) restored from a start state seeded in the pool's helper process, then stepped with
``AtariMachine.step``. The replay runs in a freshly spawned process from the seed and actions.
Every frame's hash must agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import gymnasium
import numpy as np
import pytest

from games.engine.machines import (
    AtariMachine,
    GameConfig,
    Machine,
    atari_start_state,
    is_multi_machine,
)
from games.engine.pool import MachinePool
from games.engine.registry import register_all
from games.engine.replay import Checkpoint, Replayer, ReplayError, replay, resumable

STEPS = 300


def config(env_id: str, kwargs: dict[str, Any], n_actions: int = 6) -> GameConfig:
    return GameConfig(
        slug="test",
        title="Test",
        env_id=env_id,
        env_kwargs=kwargs,
        fps=60,
        turn_based=False,
        key_map={},
        default_action=0,
        max_steps=100_000,
        n_actions=n_actions,
    )


def digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest()


def replayed_hashes(
    env_id: str, kwargs: dict[str, Any], seed: int, actions: list[int]
) -> list[str]:
    """Runs in the spawned process."""
    return [digest(f.frame) for f in replay(env_id, kwargs, seed, actions)]


def resumed_hashes(
    env_id: str, kwargs: dict[str, Any], seed: int, checkpoint: bytes, actions: list[int]
) -> list[str]:
    """Runs in the spawned process: the replay continued from a checkpoint made elsewhere."""
    resume = Checkpoint.from_bytes(checkpoint)
    return [digest(f.frame) for f in replay(env_id, kwargs, seed, actions, resume=resume)]


@pytest.fixture(scope="module")
def other_process() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=register_all
    ) as executor:
        yield executor


@pytest.fixture(scope="module")
def pool() -> Iterator[MachinePool]:
    pool = MachinePool(stock=1)
    yield pool
    pool.shutdown()


def play_live(
    pool: MachinePool, game: GameConfig, actions: list[int]
) -> tuple[int, list[str], Machine]:
    """An episode the way a live session plays it; the machine goes back to the pool after."""
    machine, seed, _ = asyncio.run(pool.acquire(game))
    assert not is_multi_machine(machine)
    hashes = [digest(machine.frame)]
    for action in actions:
        machine.step(action)
        hashes.append(digest(machine.frame))
    pool.release(game, machine)
    return seed, hashes, machine


def random_actions(n: int, seed: int, steps: int = STEPS) -> list[int]:
    return [int(a) for a in np.random.default_rng(seed).integers(n, size=steps)]


@pytest.mark.parametrize("sticky", [0.0, 0.25])
@pytest.mark.parametrize("frameskip", [1, 4])
def test_it_replays_every_live_frame_in_another_process(
    pool: MachinePool, other_process: ProcessPoolExecutor, sticky: float, frameskip: int
) -> None:
    kwargs = {
        "frameskip": frameskip,
        "repeat_action_probability": sticky,
        "full_action_space": False,
    }
    game = config("ALE/Breakout-v5", kwargs, n_actions=4)
    play_live(pool, game, random_actions(4, 1))  # the next episode reuses this machine
    actions = random_actions(4, 2)
    seed, live, _ = play_live(pool, game, actions)

    replayed = other_process.submit(replayed_hashes, game.env_id, kwargs, seed, actions).result()

    assert len(replayed) == len(live) == STEPS + 1
    first_difference = next(
        (i for i, (a, b) in enumerate(zip(live, replayed, strict=True)) if a != b), None
    )
    assert first_difference is None, f"frame {first_difference} differs"


@pytest.mark.parametrize("sticky", [0.0, 0.25])
@pytest.mark.parametrize("frameskip", [1, 4])
def test_it_resumes_a_replay_from_a_checkpoint_in_another_process(
    other_process: ProcessPoolExecutor, frameskip: int, sticky: float
) -> None:
    kwargs = {
        "frameskip": frameskip,
        "repeat_action_probability": sticky,
        "full_action_space": False,
    }
    actions = random_actions(6, 3)
    whole = [digest(f.frame) for f in replay("ALE/Pong-v5", kwargs, 11, actions)]
    with Replayer("ALE/Pong-v5", kwargs, 11) as replayer:
        for action in actions[:120]:
            replayer.step(action)
        checkpoint = replayer.checkpoint()
    assert checkpoint is not None and checkpoint.number == 120

    rest = other_process.submit(
        resumed_hashes, "ALE/Pong-v5", kwargs, 11, checkpoint.to_bytes(), actions[120:]
    ).result()

    assert rest == whole[120:]


def test_it_starts_a_used_machine_exactly_as_reset_with_sticky_actions() -> None:
    # Sticky actions repeat the last action: a pooled machine must not repeat its previous
    # episode's last action (with ALE's own sticky actions the first steps of about one
    # episode in six differed).
    kwargs = {"frameskip": 1, "repeat_action_probability": 0.25, "full_action_space": False}
    used = AtariMachine("ALE/Breakout-v5", kwargs)
    differing = []
    for seed in range(40):
        used.start(1000 + seed, None)
        for _ in range(20):
            used.step(3)  # its last action is LEFT
        used.start(seed, atari_start_state("ALE/Breakout-v5", kwargs, seed))
        actions = random_actions(4, seed, steps=6)
        live = [digest(used.frame)]
        for action in actions:
            used.step(action)
            live.append(digest(used.frame))
        replayed = [digest(f.frame) for f in replay("ALE/Breakout-v5", kwargs, seed, actions)]
        if live != replayed:
            differing.append(seed)
    assert differing == []


def test_it_refuses_a_checkpoint_whose_sticky_actions_do_not_match_the_env() -> None:
    sticky = {"frameskip": 1, "repeat_action_probability": 0.25, "full_action_space": False}
    plain = {**sticky, "repeat_action_probability": 0.0}
    with Replayer("ALE/Pong-v5", sticky, 1) as replayer:
        replayer.step(2)
        checkpoint = replayer.checkpoint()
    assert checkpoint is not None and checkpoint.repeats
    assert resumable("ALE/Pong-v5", {})  # v5's default is sticky, and resumable too

    with pytest.raises(ReplayError, match="sticky actions do not match"):
        Replayer("ALE/Pong-v5", plain, 1, resume=checkpoint)


def test_it_replays_tower_of_hanoi_in_another_process(
    pool: MachinePool, other_process: ProcessPoolExecutor
) -> None:
    game = config("arcade/TowerOfHanoi-v0", {"n_disks": 3}, n_actions=4)
    actions = random_actions(4, 4, steps=60)
    seed, live, _ = play_live(pool, game, actions)

    replayed = other_process.submit(replayed_hashes, game.env_id, {"n_disks": 3}, seed, actions)

    assert replayed.result() == live


def test_it_gives_ram_and_rgb_as_gymnasium_does() -> None:
    # (With sticky actions gymnasium's env draws other repeats: test_machines.py replays those.)
    kwargs: dict[str, Any] = {
        "frameskip": 1,
        "repeat_action_probability": 0.0,
        "full_action_space": False,
    }
    actions = random_actions(6, 5, steps=80)
    env = gymnasium.make("ALE/Pong-v5", **kwargs)
    observation, _ = env.reset(seed=5)
    frames = replay("ALE/Pong-v5", kwargs, 5, actions, with_ram=True, with_rgb=True)

    first = next(frames)
    assert first.rgb is not None and np.array_equal(first.rgb, observation)
    for action, frame in zip(actions, frames, strict=True):
        observation, reward, terminated, truncated, _ = env.step(action)
        assert frame.rgb is not None and np.array_equal(frame.rgb, observation), frame.number
        assert frame.ram is not None
        assert np.array_equal(frame.ram, env.unwrapped.ale.getRAM())  # type: ignore[attr-defined]
        assert (frame.reward, frame.terminated, frame.truncated) == (
            reward,
            terminated,
            truncated,
        )


def test_it_gives_the_rgb_of_a_resumed_first_frame() -> None:
    kwargs = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
    with Replayer("ALE/Pong-v5", kwargs, 2) as replayer:
        for action in random_actions(6, 6, steps=90):
            replayer.step(action)
        checkpoint = replayer.checkpoint()
        expected = replayer.rgb().copy()
    assert checkpoint is not None
    resumed = Checkpoint.from_bytes(checkpoint.to_bytes())

    first = next(replay("ALE/Pong-v5", kwargs, 2, [], with_rgb=True, resume=resumed))

    assert first.number == 90
    assert first.rgb is not None and np.array_equal(first.rgb, expected)


def test_it_refuses_an_action_outside_the_action_set() -> None:
    kwargs = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
    with pytest.raises(ReplayError, match="step 0: action 6"):
        list(replay("ALE/Pong-v5", kwargs, 1, [6]))


def test_it_refuses_an_unknown_env() -> None:
    with pytest.raises(ReplayError, match="cannot build ALE/NoSuchGame-v5"):
        list(replay("ALE/NoSuchGame-v5", {}, 1, []))
