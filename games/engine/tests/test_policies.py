"""AI policies: ONNX models checked on load, decisions every k frames, random and scripted play.

Models are built here with onnx.helper (games/engine/tests/models.py); nothing is downloaded.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from games.engine.machines import AtariMachine, Palette
from games.engine.policies import OnnxPolicy, PongTracker, RandomPolicy
from games.engine.tests import models

PONG = "ALE/Pong-v5"
ATARI = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}


class FakeScreen:
    """A machine's screen with RAM the test sets."""

    pixel_format = "indexed"

    def __init__(self) -> None:
        self.frame = np.zeros((210, 160), np.uint8)
        self.palette: Palette | None = Palette()
        self.ram = np.zeros(128, np.uint8)
        self.ale = self

    def getRAM(self) -> np.ndarray:
        return self.ram


@pytest.fixture(scope="module")
def pong() -> AtariMachine:
    return AtariMachine(PONG, ATARI)


def play(machine: AtariMachine, policy: Any, *, seed: int, frames: int) -> tuple[int, int]:
    """Play up to ``frames`` frames (or to the end of the game); the points each side won."""
    machine.start(seed, None)
    policy.reset(seed)
    won = lost = 0
    for _ in range(frames):
        outcome = machine.step(policy.act(machine))
        machine.new_colours()
        won += outcome.reward > 0
        lost += outcome.reward < 0
        if outcome.terminated or outcome.truncated:
            break
    return won, lost


# --- loading checks the model --------------------------------------------------------------


def test_it_accepts_a_nature_dqn_over_the_atari_spec() -> None:
    policy = OnnxPolicy(models.nature_dqn(6), observation="atari", n_actions=6, every_k=4)
    assert policy.input_shape == (1, 4, 84, 84)
    assert policy.input_dtype is np.float32


def test_it_accepts_a_ram_model_without_a_batch_dimension_and_a_named_batch() -> None:
    OnnxPolicy(models.linear(6, [128]), observation="ram", n_actions=6)
    policy = OnnxPolicy(models.linear(6, ["batch", 128]), observation="ram", n_actions=6)
    assert policy.input_shape == (1, 128)


def test_it_accepts_a_model_given_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ram.onnx"
    path.write_bytes(models.linear(6, [1, 128]))
    assert OnnxPolicy(path, observation="ram", n_actions=6).input_shape == (1, 128)


def test_it_refuses_a_model_whose_input_is_another_specs() -> None:
    message = "the model's input is 1x4x84x84 float32, the spec 'ram' gives 128 uint8"
    with pytest.raises(ValueError, match=message):
        OnnxPolicy(models.nature_dqn(6), observation="ram", n_actions=6)


def test_it_refuses_a_channels_first_rgb_model() -> None:
    message = "the model's input is 1x3x210x160 uint8, the spec 'rgb' gives 210x160x3 uint8"
    with pytest.raises(ValueError, match=message):
        OnnxPolicy(models.linear(6, [1, 3, 210, 160]), observation="rgb", n_actions=6)


def test_it_refuses_a_batch_of_more_than_one() -> None:
    with pytest.raises(ValueError, match="make its batch 1"):
        OnnxPolicy(models.linear(6, [8, 128]), observation="ram", n_actions=6)


def test_it_refuses_an_input_type_it_cannot_feed() -> None:
    model = models.linear(6, [1, 128], dtype=models.DOUBLE)
    with pytest.raises(ValueError, match=r"input is tensor\(double\).*uint8 or float32"):
        OnnxPolicy(model, observation="ram", n_actions=6)


def test_it_refuses_a_model_with_two_inputs() -> None:
    model = models.linear(6, [1, 128], extra_input=True)
    with pytest.raises(ValueError, match=r"2 inputs \(obs, hidden\)"):
        OnnxPolicy(model, observation="ram", n_actions=6)


def test_it_refuses_a_model_with_another_number_of_actions() -> None:
    message = "the model gives 4 outputs for an observation .* the game has 6 actions"
    with pytest.raises(ValueError, match=message):
        OnnxPolicy(models.linear(4, [1, 128]), observation="ram", n_actions=6)


def test_it_refuses_a_model_that_fails_its_test_inference() -> None:
    with pytest.raises(ValueError, match="failed its test inference"):
        OnnxPolicy(models.failing_on_run(["n", 128]), observation="ram", n_actions=6)


def test_it_refuses_a_file_that_is_not_a_model() -> None:
    with pytest.raises(ValueError, match="cannot load this file as an ONNX model"):
        OnnxPolicy(b"not a model", observation="ram", n_actions=6)


def test_it_refuses_an_unknown_spec() -> None:
    with pytest.raises(ValueError, match="unknown observation spec 'pixels'"):
        OnnxPolicy(models.linear(6, [1, 128]), observation="pixels", n_actions=6)


def test_it_runs_on_one_intra_op_thread_by_default() -> None:
    policy = OnnxPolicy(models.linear(6, [1, 128]), observation="ram", n_actions=6)
    options = policy.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_it_lets_other_threads_run_python_while_it_infers() -> None:
    policy = OnnxPolicy(models.slow_ram(6, layers=80), observation="ram", n_actions=6)
    window: list[float] = []

    def infer() -> None:
        window.append(time.perf_counter())
        policy.decide(np.zeros(128, np.uint8))
        window.append(time.perf_counter())

    beside = threading.Thread(target=infer)
    ticks = []
    beside.start()
    while beside.is_alive():
        ticks.append(time.perf_counter())
    beside.join()
    began, ended = window
    assert ended - began > 0.02, "the model should compute for some milliseconds"
    # Holding the GIL, inference would stop this thread for all of it: one gap as long.
    inside = [began, *(t for t in ticks if began < t < ended), ended]
    longest_gap = max(b - a for a, b in itertools.pairwise(inside))
    assert longest_gap < (ended - began) / 2


# --- deciding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "model"),
    [
        ("atari", lambda: models.nature_dqn(6)),
        ("atari", lambda: models.nature_dqn(6, dtype=models.UINT8)),
        ("ram", lambda: models.linear(6, [1, 128])),
        ("grayscale", lambda: models.linear(6, [1, 210, 160])),
        ("rgb", lambda: models.linear(6, [1, 210, 160, 3], dtype=models.FLOAT)),
    ],
)
def test_it_plays_legal_actions_from_each_observation(
    pong: AtariMachine, observation: str, model: Callable[[], bytes]
) -> None:
    policy = OnnxPolicy(model(), observation=observation, n_actions=6, every_k=4)
    policy.reset(seed=1)
    pong.start(1, None)
    actions = []
    for _ in range(40):
        actions.append(policy.act(pong))
        pong.step(actions[-1])
        pong.new_colours()
    assert set(actions) <= set(range(6))
    assert policy.decisions == 10


def test_it_decides_the_argmax_of_the_models_scores() -> None:
    policy = OnnxPolicy(models.linear(6, [1, 128]), observation="ram", n_actions=6)
    screen = FakeScreen()
    screen.ram[:] = np.arange(128)
    observation = policy.observe(screen)
    assert observation is not None
    scores = policy.session.run(None, {"obs": observation[None]})[0]
    assert policy.decide(observation) == int(np.argmax(scores))


@pytest.mark.parametrize("dtype", [models.UINT8, models.FLOAT])
def test_it_decides_through_its_bound_arrays_as_a_plain_run_would(dtype: int) -> None:
    model = models.linear(6, [1, 128], dtype=dtype)
    bound, plain = (OnnxPolicy(model, observation="ram", n_actions=6) for _ in range(2))
    plain._bound = None
    rng = np.random.default_rng(0)
    observations = [rng.integers(0, 256, 128, dtype=np.uint8) for _ in range(50)]
    assert bound._bound is not None
    actions = [bound.decide(o) for o in observations]
    assert actions == [plain.decide(o) for o in observations]
    assert len(set(actions)) > 1


def test_it_holds_its_action_between_decisions_every_k_frames() -> None:
    policy = OnnxPolicy(models.linear(6, [1, 128], seed=3), observation="ram", n_actions=6)
    policy.every_k = 3
    screen = FakeScreen()
    rng = np.random.default_rng(0)
    policy.reset(seed=0)
    played, fresh = [], []
    for _ in range(30):
        screen.ram[:] = rng.integers(0, 256, 128) * (rng.random(128) < 0.1)  # a few bytes
        fresh.append(policy.decide(screen.ram.copy()))
        played.append(policy.act(screen))
    assert played == [fresh[frame - frame % 3] for frame in range(30)]
    assert len(set(played)) > 1
    assert policy.decisions == 10


def test_it_observes_nothing_between_decisions() -> None:
    policy = RandomPolicy(n_actions=6, every_k=4)
    policy.reset(seed=0)
    due = [policy.observe(FakeScreen()) is not None for _ in range(9)]
    assert due == [True, False, False, False, True, False, False, False, True]


def test_it_starts_counting_frames_again_at_reset() -> None:
    policy = RandomPolicy(n_actions=6, every_k=4)
    policy.reset(seed=0)
    for _ in range(3):
        policy.act(FakeScreen())
    policy.reset(seed=0)
    assert policy.observe(FakeScreen()) is not None
    assert policy.action == 0


def test_it_refuses_every_k_below_one() -> None:
    with pytest.raises(ValueError, match="every_k must be 1 or more"):
        RandomPolicy(n_actions=6, every_k=0)


def test_it_decides_every_4_frames_on_what_gymnasiums_atari_wrappers_show() -> None:
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    from games.engine.machines import make_env

    wrapped = FrameStackObservation(
        AtariPreprocessing(make_env(PONG, ATARI), noop_max=0, screen_size=84), stack_size=4
    )
    expected, _ = wrapped.reset(seed=3)
    machine = AtariMachine(PONG, ATARI)
    machine.start(3, None)
    policy = OnnxPolicy(models.nature_dqn(6), observation="atari", n_actions=6, every_k=4)
    policy.reset(3)
    for frame in range(4 * 100):
        observation = policy.observe(machine)
        if frame % 4 == 0:
            assert observation is not None and np.array_equal(observation, expected), frame
            policy.action = policy.decide(observation)
            expected, *_ = wrapped.step(policy.action)
        machine.step(policy.action)
        machine.new_colours()


def test_it_imports_nothing_from_django_or_outside_the_engine() -> None:
    code = (
        "import sys, games.engine.policies, games.engine.observations\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'celery', 'arcade', 'recording', 'exports', 'accounts', 'play')))"
    )
    root = Path(__file__).parents[3]
    imported = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert imported.stdout.split() == []


# --- random and scripted ---------------------------------------------------------------------


def test_it_plays_the_same_random_actions_for_the_same_seed() -> None:
    policy = RandomPolicy(n_actions=18, every_k=2)
    runs = []
    for seed in (7, 7, 8):
        policy.reset(seed)
        runs.append([policy.act(FakeScreen()) for _ in range(200)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == set(range(18))


def test_it_tracks_the_ball_with_the_right_paddle() -> None:
    tracker = PongTracker()
    tracker.reset(seed=0)
    screen = FakeScreen()
    screen.ram[54] = 100  # the ball
    moves = {}
    for paddle in (150, 96, 40):
        screen.ram[51] = paddle
        moves[paddle] = PONG_MEANINGS[tracker.act(screen)]
    assert moves == {150: "RIGHT", 96: "NOOP", 40: "LEFT"}  # RIGHT turns the knob up


def test_it_serves_when_no_ball_is_in_play() -> None:
    tracker = PongTracker(side="left")
    tracker.reset(seed=0)
    assert PONG_MEANINGS[tracker.act(FakeScreen())] == "FIRE"


def test_it_maps_its_moves_onto_the_games_action_set() -> None:
    full = ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN"]
    tracker = PongTracker(action_meanings=full)
    assert (tracker.up, tracker.down, tracker.fire, tracker.still) == (3, 4, 1, 0)
    with pytest.raises(ValueError, match=r"needs the actions \['LEFT', 'RIGHT'\]"):
        PongTracker(action_meanings=["NOOP", "FIRE", "UP", "DOWN"])


def test_it_beats_pongs_cpu_where_doing_nothing_and_random_play_lose(
    pong: AtariMachine,
) -> None:
    tracker = play(pong, PongTracker(every_k=1), seed=0, frames=20_000)
    idle = play(pong, _Idle(), seed=0, frames=20_000)
    random = play(pong, RandomPolicy(n_actions=6), seed=0, frames=20_000)
    assert tracker[0] == 21 and tracker[1] <= 3, tracker
    assert idle == (0, 21)
    assert random[1] == 21 and random[0] <= 3, random


PONG_MEANINGS = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")


class _Idle(RandomPolicy):
    """Does nothing at all."""

    def __init__(self) -> None:
        super().__init__(n_actions=6)

    def decide(self, observation: np.ndarray) -> int:
        return 0


class TwoPlayerPong:
    """Two-player Pong on multi-agent-ale-py, driven directly (ROM from ale-py's wheel)."""

    pixel_format = "indexed"
    palette: Palette | None = None

    def __init__(self, seed: int) -> None:
        import ale_py
        import multi_agent_ale_py

        self.ale = multi_agent_ale_py.ALEInterface()
        self.ale.setFloat(b"repeat_action_probability", 0.0)
        self.ale.setInt(b"random_seed", seed)
        self.ale.loadROM(str(Path(ale_py.roms.__file__).parent / "pong.bin"))
        self.ale.setMode(4)  # PettingZoo's pong_v3 "classic", two players
        self.ale.reset_game()
        self.actions = self.ale.getMinimalActionSet()  # PONG_MEANINGS, for each player
        self.frame = self.ale.getScreen()

    def step(self, first: int, second: int) -> tuple[int, int]:
        rewards = self.ale.act(np.array([self.actions[first], self.actions[second]], np.int32))
        return int(rewards[0]), int(rewards[1])


@pytest.mark.parametrize("side", ["right", "left"])
def test_it_beats_a_random_player_from_either_side_of_two_player_pong(side: str) -> None:
    pytest.importorskip("multi_agent_ale_py")
    game = TwoPlayerPong(seed=0)
    tracker, random = PongTracker(side=side), RandomPolicy(n_actions=6)
    tracker.reset(0)
    random.reset(1)
    points = {"tracker": 0, "random": 0}
    for _ in range(20_000):
        if side == "right":  # the first player holds the right paddle
            tracker_reward, random_reward = game.step(tracker.act(game), random.act(game))
        else:
            random_reward, tracker_reward = game.step(random.act(game), tracker.act(game))
        points["tracker"] += tracker_reward > 0
        points["random"] += random_reward > 0
        if game.ale.game_over():
            break
    assert points == {"tracker": 21, "random": 0}
