"""The multi-seat Atari machine, held to PettingZoo's atari envs and to the replay guarantee.

PettingZoo's env for each game is the reference: its modes, action sets, seat order
(``first_0`` is seat 0) and, step for step, its frames and rewards. Its ROMs come from ale-py's
folder (``auto_rom_install_path``), as the machine's do: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pettingzoo
import pytest

from games.catalogue import ATARI_KWARGS
from games.engine.errors import ReplayError
from games.engine.multiplayer import (
    ACTION_NAMES,
    ROMS,
    MultiAtariMachine,
    MultiMachine,
    MultiSeatGame,
    MultiSnapshot,
    multi_seat_game,
    multi_seat_games,
    multi_start_state,
)
from games.engine.multireplay import MultiCheckpoint, replay_multi

SEED = 12345
REPO = Path(__file__).resolve().parents[3]


def reference(game: MultiSeatGame) -> Any:
    """PettingZoo's parallel env of ``game``, with the ROMs of ale-py's folder."""
    return pettingzoo.make(
        "parallel", game.reference, auto_rom_install_path=str(ROMS), **dict(game.reference_kwargs)
    )


def joint_actions(game: MultiSeatGame, steps: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(len(game.actions), size=(steps, game.seats)).tolist()


def started(name: str, *, seed: int = SEED, **kwargs: Any) -> MultiAtariMachine:
    machine = MultiAtariMachine(name, **kwargs)
    machine.start(seed, None)
    return machine


def rgb(machine: MultiAtariMachine) -> np.ndarray:
    """The frame in colour, through the palette the machine learned."""
    assert machine.palette is not None
    return machine.palette.rgb[machine.frame]


def digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest()


def played(machine: MultiAtariMachine, actions: list[list[int]]) -> list[str]:
    hashes = []
    for joint in actions:
        machine.step(joint)
        machine.new_colours()
        hashes.append(digest(machine.frame))
    return hashes


def replayed_hashes(
    name: str, kwargs: dict[str, Any], seed: int, actions: list[list[int]]
) -> list[str]:
    """Runs in the spawned process."""
    return [digest(f.frame) for f in replay_multi(name, kwargs, seed, actions)]


def resumed_hashes(
    name: str, kwargs: dict[str, Any], seed: int, checkpoint: bytes, actions: list[list[int]]
) -> list[str]:
    """Runs in the spawned process: the replay continued from a checkpoint made elsewhere."""
    resume = MultiCheckpoint.from_bytes(checkpoint)
    return [digest(f.frame) for f in replay_multi(name, kwargs, seed, actions, resume=resume)]


@pytest.fixture(scope="module")
def other_process() -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        yield executor


# --- the games, as PettingZoo has them ------------------------------------------------------


@pytest.mark.parametrize("game", multi_seat_games(), ids=lambda game: game.name)
def test_it_lists_each_game_with_pettingzoos_rom_mode_actions_and_seats(
    game: MultiSeatGame,
) -> None:
    env = reference(game)
    ours = MultiAtariMachine(game.name)
    try:
        assert Path(env.unwrapped.rom_path).stem == game.rom
        assert env.unwrapped.mode == game.mode
        assert env.possible_agents == game.seat_names
        assert [int(a) for a in env.unwrapped.action_mapping] == list(game.actions)
        assert ours.ale.numPlayersActive() == game.seats
        assert ours.action_meanings == [game.action_meanings] * game.seats
    finally:
        env.close()
        ours.close()


def test_it_lists_the_games_the_catalogue_will_offer_first() -> None:
    seats = {game.name: game.seats for game in multi_seat_games()}

    assert {name: seats[name] for name in ("pong", "boxing", "tennis", "space_invaders")} == {
        "pong": 2,
        "boxing": 2,
        "tennis": 2,
        "space_invaders": 2,
    }
    assert seats["pong_4p"] == seats["warlords"] == 4


@pytest.mark.parametrize(
    ("name", "seat", "move", "colour", "side"),
    [
        ("pong", 0, "LEFT", (92, 186, 92), "right"),
        ("pong", 1, "LEFT", (213, 130, 74), "left"),
        ("boxing", 0, "RIGHT", (214, 214, 214), "top"),
        ("boxing", 1, "LEFT", (0, 0, 0), "bottom"),
        ("tennis", 0, "LEFT", (240, 128, 128), "top"),
        ("tennis", 1, "LEFT", (117, 128, 240), "bottom"),
        ("space_invaders", 0, "RIGHT", (50, 132, 50), "left"),
        ("space_invaders", 1, "LEFT", (162, 134, 56), "right"),
    ],
)
def test_it_gives_each_seat_the_part_its_role_names(
    name: str, seat: int, move: str, colour: tuple[int, int, int], side: str
) -> None:
    game = multi_seat_game(name)
    joint = [0] * game.seats
    joint[seat] = game.action_meanings.index(move)
    moving, still = started(name), started(name)
    for _ in range(150):
        moving.step(joint)
        still.step([0] * game.seats)
        moving.new_colours()

    moved = moving.frame != still.frame
    background = np.bincount(moving.frame.ravel()).argmax()
    rows, columns = np.nonzero(moved & (moving.frame != background))
    mostly = np.bincount(moving.frame[rows, columns]).argmax()  # the colour of most of it
    height, width = moving.frame.shape
    sides = {
        "left": columns.mean() < width / 2,
        "right": columns.mean() > width / 2,
        "top": rows.mean() < height / 2,
        "bottom": rows.mean() > height / 2,
    }

    assert rows.size > 0, f"{name}'s seat {seat} moved nothing"
    assert moving.palette is not None
    assert tuple(moving.palette.rgb[mostly]) == colour
    assert sides[side]
    words = {(92, 186, 92): "green", (213, 130, 74): "orange", (214, 214, 214): "white"}
    words |= {(0, 0, 0): "black", (240, 128, 128): "pink", (117, 128, 240): "blue"}
    words |= {(50, 132, 50): "green", (162, 134, 56): "yellow"}
    assert words[colour] in game.roles[seat]


def test_it_names_the_known_games_when_asked_for_an_unknown_one() -> None:
    with pytest.raises(ValueError, match=r"no multi-seat game 'pacman'; the known ones are .*pong"):
        multi_seat_game("pacman")


@pytest.mark.parametrize(
    ("name", "steps", "seats_out"),
    [
        ("pong", 2500, 0),
        ("boxing", 2000, 0),
        ("tennis", 400, 0),
        ("space_invaders", 600, 0),
        ("pong_4p", 600, 0),
        ("warlords", 3000, 1),  # a seat is out at step 2,560, and the others play on
    ],
)
def test_it_plays_frame_for_frame_and_point_for_point_as_pettingzoo(
    name: str, steps: int, seats_out: int
) -> None:
    game = multi_seat_game(name)
    env = reference(game)
    observations, _ = env.reset(seed=SEED)
    theirs = env.unwrapped.ale
    machine = started(name)
    playing = list(game.seat_names)  # PettingZoo's agents still in the game
    points = 0
    assert np.array_equal(rgb(machine), observations["first_0"])
    for number, planned in enumerate(joint_actions(game, steps, seed=1)):
        # PettingZoo steps a seat that is out of the game with action 0; so does the test.
        joint = [
            a if agent in playing else 0 for a, agent in zip(planned, game.seat_names, strict=True)
        ]
        outcome = machine.step(joint)
        machine.new_colours()
        observations, rewards, terminations, _, _ = env.step(
            {agent: joint[seat] for seat, agent in enumerate(game.seat_names) if agent in playing}
        )

        screen = theirs.getScreen().reshape(machine.frame.shape)
        assert np.array_equal(machine.frame, screen), f"frame {number + 1} differs"
        assert np.array_equal(rgb(machine), next(iter(observations.values())))
        ours = {agent: outcome.rewards[seat] for seat, agent in enumerate(game.seat_names)}
        assert {agent: ours[agent] for agent in playing} == {
            agent: float(reward) for agent, reward in rewards.items()
        }
        out = {
            agent: outcome.terminated or outcome.lives[seat] < 0
            for seat, agent in enumerate(game.seat_names)
            if agent in playing
        }
        assert out == {agent: bool(ended) for agent, ended in terminations.items()}
        points += sum(reward != 0 for reward in outcome.rewards)
        playing = [agent for agent in playing if not out[agent]]
        if outcome.terminated:
            break
    env.close()
    assert points > 0, "no seat scored: the comparison of rewards proved nothing"
    assert game.seats - len(playing) == seats_out


def test_it_offers_all_18_actions_to_each_seat_as_pettingzoos_full_action_space() -> None:
    game = multi_seat_game("pong")
    env = pettingzoo.make(
        "parallel", game.reference, auto_rom_install_path=str(ROMS), full_action_space=True
    )
    env.reset(seed=SEED)
    machine = started("pong", full_action_space=True)
    actions = np.random.default_rng(14).integers(18, size=(300, 2)).tolist()

    assert machine.action_meanings == [list(ACTION_NAMES)] * 2
    for joint in actions:
        machine.step(joint)
        env.step(dict(zip(game.seat_names, joint, strict=True)))
        screen = env.unwrapped.ale.getScreen().reshape(machine.frame.shape)
        assert np.array_equal(machine.frame, screen)
    env.close()


def test_it_is_a_multi_seat_machine_a_match_can_step() -> None:
    machine: MultiMachine = started("pong")  # mypy checks the shape; this, that it runs

    outcome = machine.step([0] * machine.seats)

    assert len(outcome.rewards) == len(machine.action_meanings) == machine.seats == 2


def test_it_takes_the_catalogues_atari_kwargs_as_they_are() -> None:
    machine = MultiAtariMachine("pong", **ATARI_KWARGS)

    assert (machine.frameskip, machine.sticky, machine.action_meanings[1][2]) == (1, 0.0, "RIGHT")


# --- moving, starting and replaying ---------------------------------------------------------


@pytest.mark.parametrize("sticky", [0.0, 0.25])
def test_it_goes_on_identically_in_another_machine_after_freeze_and_thaw(sticky: float) -> None:
    game = multi_seat_game("boxing")
    before, after = joint_actions(game, 200, seed=2), joint_actions(game, 200, seed=3)
    first = started("boxing", repeat_action_probability=sticky)
    played(first, before)
    frozen = first.freeze()
    second = started("boxing", seed=99, repeat_action_probability=sticky)
    played(second, joint_actions(game, 50, seed=4))  # somewhere else in another episode

    second.thaw(frozen)

    assert np.array_equal(second.frame, first.frame)
    for joint in after:
        ours, theirs = first.step(joint), second.step(joint)
        assert np.array_equal(second.frame, first.frame)
        assert (ours.rewards, ours.lives, ours.info) == (theirs.rewards, theirs.lives, theirs.info)
        assert first.new_colours() == second.new_colours()
    assert first.palette is not None and second.palette is not None
    assert first.palette.entries() == second.palette.entries()


def test_it_refuses_to_thaw_another_games_state() -> None:
    frozen = started("pong").freeze()

    with pytest.raises(ValueError, match="a state of pong cannot go on in tennis"):
        MultiAtariMachine("tennis").thaw(frozen)


def test_it_refuses_to_thaw_a_game_frozen_with_other_sticky_actions() -> None:
    frozen = started("pong", repeat_action_probability=0.25).freeze()

    with pytest.raises(ValueError, match="frozen with other sticky actions than this machine"):
        MultiAtariMachine("pong").thaw(frozen)


def test_it_starts_from_a_helper_processes_state_as_from_the_seed() -> None:
    game = multi_seat_game("pong")
    actions = joint_actions(game, 300, seed=5)
    used = started("pong", seed=7)
    played(used, joint_actions(game, 100, seed=6))  # a pooled machine has played before

    used.start(SEED, multi_start_state("pong", SEED))

    assert played(used, actions) == played(started("pong"), actions)


def test_it_gives_the_same_frames_in_a_spawned_process(
    other_process: ProcessPoolExecutor,
) -> None:
    game = multi_seat_game("pong")
    kwargs: dict[str, Any] = {"frameskip": 4, "repeat_action_probability": 0.25}
    actions = joint_actions(game, 300, seed=7)
    machine = started("pong", **kwargs)
    live = [digest(machine.frame), *played(machine, actions)]

    assert other_process.submit(replayed_hashes, "pong", kwargs, SEED, actions).result() == live


def test_it_resumes_a_replay_from_a_checkpoint_in_a_spawned_process(
    other_process: ProcessPoolExecutor,
) -> None:
    game = multi_seat_game("boxing")
    kwargs: dict[str, Any] = {"repeat_action_probability": 0.25}
    head, tail = joint_actions(game, 150, seed=8), joint_actions(game, 150, seed=9)
    machine = started("boxing", **kwargs)
    played(machine, head)
    checkpoint = MultiCheckpoint(number=150, snapshot=machine.snapshot()).to_bytes()
    live = [digest(machine.frame), *played(machine, tail)]

    resumed = other_process.submit(resumed_hashes, "boxing", kwargs, SEED, checkpoint, tail)

    assert resumed.result() == live


def test_it_replays_rewards_and_ends_as_played() -> None:
    game = multi_seat_game("tennis")
    actions = joint_actions(game, 400, seed=10)
    machine = started("tennis", frameskip=2)
    outcomes = [machine.step(joint) for joint in actions]

    frames = list(replay_multi("tennis", {"frameskip": 2}, SEED, actions, with_ram=True))

    assert [f.rewards for f in frames[1:]] == [tuple(o.rewards) for o in outcomes]
    assert [f.actions for f in frames[1:]] == [tuple(joint) for joint in actions]
    assert any(any(f.rewards) for f in frames), "no seat scored: nothing was compared"
    assert np.array_equal(frames[-1].frame, machine.frame)
    assert frames[-1].ram is not None and np.array_equal(frames[-1].ram, machine.ram())


def test_it_refuses_to_replay_an_action_outside_the_game() -> None:
    with pytest.raises(ReplayError, match="step 1: seat 1's action 6 is not one of pong's"):
        list(replay_multi("pong", {}, SEED, [[0, 0], [0, 6]]))


def test_it_refuses_an_unreadable_checkpoint() -> None:
    with pytest.raises(ReplayError, match="unreadable multi-seat replay checkpoint"):
        MultiCheckpoint.from_bytes(b"\x01\x00\x00\x00not zstd")


def test_it_reads_back_a_snapshot_exactly() -> None:
    machine = started("tennis", repeat_action_probability=0.25)
    played(machine, joint_actions(multi_seat_game("tennis"), 60, seed=11))
    snapshot = machine.snapshot()

    again = MultiSnapshot.from_bytes(snapshot.to_bytes())

    assert (again.game, again.state, again.repeats, again.steps) == (
        snapshot.game,
        snapshot.state,
        snapshot.repeats,
        snapshot.steps,
    )
    assert np.array_equal(again.screen, snapshot.screen)
    assert np.array_equal(again.rgb, snapshot.rgb)


# --- frames, sticky actions, the end --------------------------------------------------------


def test_it_steps_frameskip_frames_a_step_and_adds_their_rewards() -> None:
    game = multi_seat_game("boxing")
    actions = joint_actions(game, 200, seed=12)
    skipping, single = started("boxing", frameskip=4), started("boxing")

    for joint in actions:
        outcome = skipping.step(joint)
        rewards = [single.step(joint).rewards for _ in range(4)]
        assert outcome.rewards == [sum(seat) for seat in zip(*rewards, strict=True)]
        assert np.array_equal(skipping.frame, single.frame)


def test_it_applies_each_seats_sticky_actions_as_its_info_says() -> None:
    game = multi_seat_game("pong")
    actions = joint_actions(game, 300, seed=13)
    sticky, plain = started("pong", repeat_action_probability=0.25), started("pong")
    repeated = 0

    for joint in actions:
        outcome = sticky.step(joint)
        (applied,) = outcome.info["applied"]  # one frame a step
        repeated += applied != joint
        plain.step(applied)
        assert np.array_equal(sticky.frame, plain.frame)
    assert repeated > 0, "no action was ever repeated: stickiness was not tested"


def test_it_sets_the_diff_and_changed_words_as_the_single_seat_machine_does() -> None:
    machine = started("pong")
    previous = machine.frame.copy()

    machine.step([0, 0])

    assert machine.diff is not None and machine.changed is not None
    assert np.array_equal(machine.diff, machine.frame ^ previous)
    assert np.array_equal(machine.changed, np.flatnonzero(machine.diff.view(np.uint64)))


def test_it_truncates_the_episode_after_max_steps() -> None:
    machine = started("pong", max_steps=3)

    ends = [machine.step([0, 0]).truncated for _ in range(3)]

    assert ends == [False, False, True]


# --- refusing what it cannot do -------------------------------------------------------------


@pytest.mark.parametrize(
    ("joint", "message"),
    [
        ([0], "pong takes one action per seat: 2 actions, not 1"),
        ([0, 0, 0], "pong takes one action per seat: 2 actions, not 3"),
        ([0, 6], r"seat 1's action 6 is not one of pong's 6 actions \(0 to 5\)"),
        ([-1, 0], "seat 0's action -1 is not one of pong's 6 actions"),
        ([0, 1.0], "seat 1's action must be an action index, not 1.0"),
        ([True, 0], "seat 0's action must be an action index, not True"),
    ],
)
def test_it_refuses_a_bad_joint_action_and_stays_where_it_was(
    joint: list[Any], message: str
) -> None:
    machine = started("pong")
    frame = machine.frame.copy()

    with pytest.raises(ValueError, match=message):
        machine.step(joint)

    assert np.array_equal(machine.frame, frame)
    assert machine.steps == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frameskip": (2, 5)}, "frameskip must be a whole number of frames"),
        ({"frameskip": 0}, "frameskip must be a whole number of frames"),
        ({"repeat_action_probability": 1.0}, "repeat_action_probability must be at least 0"),
    ],
)
def test_it_refuses_settings_it_could_not_replay(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiAtariMachine("pong", **kwargs)


def test_it_refuses_a_seed_ale_cannot_take() -> None:
    with pytest.raises(ValueError, match="a seed is a whole number from 0 to 2\\*\\*31 - 1"):
        MultiAtariMachine("pong").start(2**31, None)


# --- the engine's import rule ---------------------------------------------------------------


@pytest.mark.parametrize("module", ["games.engine.multiplayer", "games.engine.multireplay"])
def test_it_imports_no_django_celery_or_other_first_party_code(module: str) -> None:
    script = (
        f"import sys, {module}\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    imported = set(result.stdout.split())

    assert "multi_agent_ale_py" in imported  # the check sees what the module imports
    forbidden = {"django", "celery", "channels", "arcade", "recording", "exports", "accounts"}
    assert imported & forbidden == set()
