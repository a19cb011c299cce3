"""What a policy observes of a running machine agrees with ALE and with Gymnasium's wrappers.

The recorded-episode side (exports) is held to the same wrappers by
exports/tests/test_observations.py; both run the code in games/engine/observations.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from games.engine.machines import AtariMachine, Palette, make_env
from games.engine.observations import MaxPool, ObservationUnavailable, Observer

ATARI = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}


def test_it_makes_the_atari_observation_frame_by_frame_as_the_wrappers_do() -> None:
    wrapped = FrameStackObservation(
        AtariPreprocessing(make_env("ALE/Breakout-v5", ATARI), noop_max=0, screen_size=84),
        stack_size=4,
    )
    expected, _ = wrapped.reset(seed=5)
    machine = AtariMachine("ALE/Breakout-v5", ATARI)
    machine.start(5, None)
    observer = Observer("atari")
    rng = np.random.default_rng(5)
    for frame in range(4 * 150):
        observer.see(machine)
        if frame % 4 == 0:
            assert np.array_equal(observer.observation(machine), expected), frame
            action = int(rng.integers(4))
            expected, *_ = wrapped.step(action)
        machine.step(action)
        machine.new_colours()


def test_it_ends_a_group_early_on_the_last_step_and_keeps_its_buffers() -> None:
    pool = MaxPool()
    pool.reset(np.full((2, 2), 9, np.uint8))
    assert pool.push(np.full((2, 2), 1, np.uint8)) is None
    ended = pool.push(np.full((2, 2), 5, np.uint8), ended=True)
    assert ended is not None and ended.tolist() == [[9, 9], [9, 9]]  # the reset frame pooled


@pytest.mark.parametrize("name", ["rgb", "grayscale", "ram"])
def test_it_observes_a_machine_as_ale_shows_it(name: str) -> None:
    machine = AtariMachine("ALE/MsPacman-v5", ATARI)
    machine.start(2, None)
    observer = Observer(name)
    ale = machine.ale
    for step in range(60):
        machine.step(step % 9)
        machine.new_colours()
        observer.see(machine)
        seen = observer.observation(machine)
        shown = {"rgb": ale.getScreenRGB, "grayscale": ale.getScreenGrayscale, "ram": ale.getRAM}
        assert np.array_equal(seen, shown[name]())


class RgbScreen:
    """A Gymnasium (not ALE) game's screen, as GymMachine holds it."""

    pixel_format = "rgb"
    palette: Palette | None = None

    def __init__(self) -> None:
        self.frame = np.full((4, 6, 3), (255, 0, 0), np.uint8)


def test_it_observes_rgb_games_but_not_their_ram() -> None:
    assert Observer("grayscale").observation(RgbScreen()).tolist() == [[76] * 6] * 4
    assert Observer("rgb").observation(RgbScreen()).shape == (4, 6, 3)
    with pytest.raises(ObservationUnavailable, match="RAM observations need an Atari"):
        Observer("ram").observation(RgbScreen())


def test_it_reads_only_the_last_two_frames_of_a_group() -> None:
    pool = MaxPool()
    pool.reset(np.zeros((2, 2), np.uint8))
    needed = []
    for _ in range(4):
        needed.append(pool.needs_frame)
        pool.push(np.ones((2, 2), np.uint8) if pool.needs_frame else None)
    assert needed == [False, False, True, True]
    pool.push(None)
    pool.push(None)
    with pytest.raises(ValueError, match="pooled: push it"):
        pool.push(None)
