"""The emulators the live loop steps, held to the replay guarantee.

An episode is recorded from an AtariMachine that was restored from a pickled start state; a
researcher replays it with plain ``gymnasium.make(env_id, **kwargs)``, ``reset(seed=seed)`` and
the recorded actions. The two must agree on every frame, reward and end of episode. With sticky
actions, which the machine draws itself, the researcher steps a frame-by-frame env without
sticky actions through each frame's applied action (``info["applied"]``).
"""

from __future__ import annotations

import json
from typing import Any

import ale_py
import gymnasium
import numpy as np
import pytest

from games.engine.machines import (
    AtariMachine,
    GymMachine,
    Palette,
    Repeats,
    atari_start_state,
    make_env,
)

gymnasium.register_envs(ale_py)

REPLAY_GAMES = ["ALE/Pong-v5", "ALE/Breakout-v5", "ALE/Seaquest-v5"]
STEPS = 250


def atari_kwargs(*, sticky: float = 0.0, frameskip: int = 1) -> dict[str, Any]:
    return {
        "frameskip": frameskip,
        "repeat_action_probability": sticky,
        "full_action_space": False,
    }


def started(env_id: str, kwargs: dict[str, Any], seed: int) -> AtariMachine:
    """A machine started the way production starts one: from a pickled seeded start state."""
    machine = AtariMachine(env_id, kwargs)
    machine.start(seed, atari_start_state(env_id, kwargs, seed))
    return machine


def random_actions(n_actions: int, seed: int) -> list[int]:
    return [int(a) for a in np.random.default_rng(seed).integers(n_actions, size=STEPS)]


def assert_same_screen(frame: np.ndarray, expected: np.ndarray, number: int) -> None:
    differing = int(np.count_nonzero(frame != expected))
    assert differing == 0, f"frame {number} differs from gymnasium's in {differing} pixels"


def assert_same_diff(diff: np.ndarray | None, expected: np.ndarray, number: int) -> None:
    assert diff is not None, f"no diff after step {number}"
    assert (diff.dtype, diff.shape) == (np.uint8, expected.shape), number
    differing = int(np.count_nonzero(diff != expected))
    assert differing == 0, f"diff of frame {number} is wrong in {differing} pixels"


def researchers_env(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The kwargs a researcher replays with, and whether by applied actions frame by frame."""
    if not kwargs["repeat_action_probability"]:
        return kwargs, False
    return {**kwargs, "frameskip": 1, "repeat_action_probability": 0.0}, True


def assert_replays_like_gymnasium(
    machine: AtariMachine, env_id: str, kwargs: dict[str, Any], seed: int
) -> None:
    replay_kwargs, by_frame = researchers_env(kwargs)
    env = gymnasium.make(env_id, **replay_kwargs)
    env.reset(seed=seed)
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    assert_same_screen(machine.frame, ale.getScreen(), 0)

    for step, action in enumerate(random_actions(len(machine.action_meanings), seed)):
        outcome = machine.step(action)
        if by_frame:
            applied = outcome.info["applied"]
            assert len(applied) == kwargs["frameskip"]
            reward = 0.0
            for frame_action in applied:
                _, frame_reward, terminated, truncated, info = env.step(frame_action)
                reward += float(frame_reward)
        else:
            assert "applied" not in outcome.info
            _, step_reward, terminated, truncated, info = env.step(action)
            reward = float(step_reward)

        assert_same_screen(machine.frame, ale.getScreen(), step + 1)
        assert outcome.reward == reward, f"reward of step {step} differs"
        assert (outcome.terminated, outcome.truncated) == (terminated, truncated), step
        assert outcome.lives == info["lives"], step
        if terminated or truncated:
            break
    env.close()


# --- the replay guarantee --------------------------------------------------------------------


@pytest.mark.parametrize("frameskip", [1, 4])
@pytest.mark.parametrize("sticky", [0.0, 0.25])
@pytest.mark.parametrize("env_id", REPLAY_GAMES)
def test_it_replays_exactly_like_a_fresh_gymnasium_env(
    env_id: str, sticky: float, frameskip: int
) -> None:
    kwargs = atari_kwargs(sticky=sticky, frameskip=frameskip)
    seed = 20_240_611

    machine = started(env_id, kwargs, seed)

    assert_replays_like_gymnasium(machine, env_id, kwargs, seed)


@pytest.mark.parametrize("steps_before", [100, 101])  # ends on either of the two screens
def test_it_replays_exactly_on_a_machine_that_played_an_episode_before(steps_before: int) -> None:
    # Pooled machines are reused: the last player's episode must leave nothing behind.
    env_id, kwargs = "ALE/Seaquest-v5", atari_kwargs(sticky=0.25, frameskip=4)
    machine = started(env_id, kwargs, seed=1)
    for action in random_actions(len(machine.action_meanings), seed=99)[:steps_before]:
        machine.step(action)

    machine.start(2, atari_start_state(env_id, kwargs, 2))

    assert_replays_like_gymnasium(machine, env_id, kwargs, seed=2)


def test_it_repeats_the_action_before_on_a_quarter_of_the_frames() -> None:
    # ALE's rule for repeat_action_probability 0.25: each frame, with that probability, the
    # action of the frame before is applied instead of the new one.
    repeats = Repeats(0.25)
    repeats.start(seed=5)
    assert repeats.held == 0  # NOOP, until a frame takes an action

    applied = [repeats.applied(frame + 1) for frame in range(20_000)]  # each frame a new one

    repeated = sum(a != frame + 1 for frame, a in enumerate(applied)) / len(applied)
    assert 0.24 < repeated < 0.26
    assert all(a in (frame, frame + 1) or a < frame for frame, a in enumerate(applied))


def test_it_reports_the_action_each_frame_applied() -> None:
    machine = started("ALE/Pong-v5", atari_kwargs(sticky=0.25, frameskip=4), seed=5)
    chosen = random_actions(len(machine.action_meanings), seed=6)

    applied = [machine.step(action).info["applied"] for action in chosen]

    assert all(len(frames) == 4 for frames in applied)
    assert {a for frames in applied for a in frames} <= set(range(len(machine.action_meanings)))
    assert sum(frames != [a] * 4 for frames, a in zip(applied, chosen, strict=True)) > 10


def test_it_carries_the_sticky_actions_to_another_machine_mid_episode() -> None:
    # What a hand-over to another process does: freeze here, thaw there, go on identically.
    env_id, kwargs = "ALE/Breakout-v5", atari_kwargs(sticky=0.25, frameskip=4)
    here = started(env_id, kwargs, seed=11)
    actions = random_actions(len(here.action_meanings), seed=12)
    for action in actions[:100]:
        here.step(action)
    there = AtariMachine(env_id, kwargs)
    there.start(99, atari_start_state(env_id, kwargs, 99))  # a pooled machine, used before

    there.thaw(here.freeze())

    for action in actions[100:]:
        assert here.step(action).info == there.step(action).info
        assert np.array_equal(here.frame, there.frame)


def test_it_carries_the_seed_in_the_start_state() -> None:
    # With sticky actions the seed decides which inputs stick, so two seeds part ways;
    # without this, the replay tests above could pass with the seed ignored.
    env_id, kwargs = "ALE/Pong-v5", atari_kwargs(sticky=0.25)
    one, two = started(env_id, kwargs, seed=1), started(env_id, kwargs, seed=2)

    differed = False
    for action in random_actions(len(one.action_meanings), seed=3):
        one.step(action)
        two.step(action)
        differed = differed or not np.array_equal(one.frame, two.frame)

    assert differed


def test_it_plays_a_seeded_start_without_a_start_state() -> None:
    # Tests and the benchmark start machines in-process, with state=None.
    env_id, kwargs = "ALE/Breakout-v5", atari_kwargs(sticky=0.25, frameskip=4)
    machine = AtariMachine(env_id, kwargs)

    machine.start(7, None)

    assert_replays_like_gymnasium(machine, env_id, kwargs, seed=7)


def test_it_refuses_a_stochastic_frameskip() -> None:
    with pytest.raises(ValueError, match="needs an integer frameskip"):
        AtariMachine("ALE/Pong-v5", {**atari_kwargs(), "frameskip": (2, 5)})


# --- the difference from the frame before ----------------------------------------------------


@pytest.mark.parametrize("frameskip", [1, 4])
@pytest.mark.parametrize("env_id", [*REPLAY_GAMES, "ALE/MsPacman-v5"])
def test_it_gives_the_difference_from_the_frame_before_at_every_step(
    env_id: str, frameskip: int
) -> None:
    machine = started(env_id, atari_kwargs(frameskip=frameskip), seed=8)
    previous = machine.frame.copy()
    changed = 0

    for step, action in enumerate(random_actions(len(machine.action_meanings), seed=8)):
        outcome = machine.step(action)
        frame = machine.frame.copy()

        assert_same_diff(machine.diff, np.bitwise_xor(frame, previous), step + 1)
        changed += int(np.any(frame != previous))
        previous = frame
        if outcome.terminated or outcome.truncated:
            break

    assert changed > 50  # the screens moved, so the diffs above were not all zeros


def test_it_has_no_diff_right_after_start() -> None:
    env_id, kwargs = "ALE/Pong-v5", atari_kwargs()
    machine = AtariMachine(env_id, kwargs)
    machine.start(1, None)
    assert machine.diff is None
    machine.step(0)
    assert machine.diff is not None

    machine.start(2, atari_start_state(env_id, kwargs, 2))

    assert machine.diff is None


def test_it_diffs_the_first_step_against_the_new_start_not_the_last_episode() -> None:
    # Pooled machines are reused: the first delta of an episode must not reach into the last.
    env_id, kwargs = "ALE/Seaquest-v5", atari_kwargs(frameskip=4)
    machine = started(env_id, kwargs, seed=1)
    for action in random_actions(len(machine.action_meanings), seed=99)[:101]:
        machine.step(action)
    machine.start(2, atari_start_state(env_id, kwargs, 2))
    start = machine.frame.copy()

    machine.step(0)

    assert_same_diff(machine.diff, np.bitwise_xor(machine.frame, start), 1)
    assert not np.array_equal(machine.frame, start)  # so that diff is not all zeros


def test_it_leaves_a_kept_copy_alone_while_the_frame_moves_on() -> None:
    # The machine reuses its screen buffers, so callers copy what they keep (the recorder does).
    env_id, kwargs = "ALE/Breakout-v5", atari_kwargs(frameskip=4)
    machine = started(env_id, kwargs, seed=3)
    reference = gymnasium.make(env_id, **kwargs)
    reference.reset(seed=3)
    ale = reference.unwrapped.ale  # type: ignore[attr-defined]
    actions = random_actions(len(machine.action_meanings), seed=3)
    for action in actions[:10]:
        machine.step(action)
        reference.step(action)
    kept, screen_10 = machine.frame.copy(), ale.getScreen()

    for step, action in enumerate(actions[10:20], start=11):
        machine.step(action)
        reference.step(action)
        assert_same_screen(machine.frame, ale.getScreen(), step)

    assert_same_screen(kept, screen_10, 10)
    assert not np.array_equal(machine.frame, kept)
    reference.close()


# --- the palette -----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["ALE/Pong-v5", "ALE/MsPacman-v5", "ALE/Seaquest-v5"])
def test_it_knows_the_colour_of_every_pixel_it_shows(env_id: str) -> None:
    machine = AtariMachine(env_id, atari_kwargs(frameskip=4))
    machine.start(5, None)
    assert machine.palette is not None
    assert np.array_equal(machine.palette.rgb[machine.frame], machine.ale.getScreenRGB())

    for step, action in enumerate(random_actions(len(machine.action_meanings), seed=5)):
        machine.step(action)
        machine.new_colours()
        rgb = machine.palette.rgb[machine.frame]
        assert np.array_equal(rgb, machine.ale.getScreenRGB()), f"frame {step + 1} differs"


def test_it_reports_each_new_colour_once_when_first_seen() -> None:
    machine = AtariMachine("ALE/Pong-v5", atari_kwargs(frameskip=4))
    reported = machine.start(5, None)
    seen = set(np.unique(machine.frame).tolist())
    assert set(reported) == seen

    for action in random_actions(len(machine.action_meanings), seed=5):
        machine.step(action)
        new = machine.new_colours()
        in_frame = set(np.unique(machine.frame).tolist())
        assert set(new) == in_frame - seen
        assert len(new) == len(set(new))
        seen |= in_frame

    assert len(seen) > len(set(reported))  # colours did appear during play (Pong's scores)


def test_it_lists_every_learned_colour_as_an_entry() -> None:
    machine = AtariMachine("ALE/Seaquest-v5", atari_kwargs())
    learned = machine.start(5, None)
    assert machine.palette is not None

    entries = machine.palette.entries()

    assert [index for index, *_ in entries] == sorted(learned)
    for index, r, g, b in entries:
        pixel = np.argwhere(machine.frame == index)[0]
        assert [r, g, b] == machine.ale.getScreenRGB()[tuple(pixel)].tolist()


def pong_start() -> tuple[np.ndarray, Palette]:
    """Pong's first frame and a palette that has learned just its colours."""
    machine = AtariMachine("ALE/Pong-v5", atari_kwargs())
    machine.start(5, None)
    frame = machine.frame.copy()
    palette = Palette()
    palette.learn(frame, machine.ale.getScreenRGB())
    machine.close()
    return frame, palette


@pytest.mark.parametrize(
    "pixel",
    # Every byte of the first eight-byte word, one in the middle and the very last.
    [(0, column) for column in range(8)] + [(105, 83), (209, 159)],
)
def test_it_finds_a_new_colour_that_appears_only_in_changed_pixels(
    pixel: tuple[int, int],
) -> None:
    before, palette = pong_start()
    unseen = next(i for i in range(256) if not np.any(before == i))
    after = before.copy()
    after[pixel] = unseen

    assert palette.has_unknown(after, np.bitwise_xor(after, before))


def test_it_finds_no_new_colour_when_nothing_changed() -> None:
    frame, palette = pong_start()

    assert not palette.has_unknown(frame, np.zeros_like(frame))


def test_it_finds_no_new_colour_when_changed_pixels_show_known_colours() -> None:
    before, palette = pong_start()
    known = np.unique(before)
    assert len(known) >= 2
    after = before.copy()
    after[50:150, 40:120] = np.where(before[50:150, 40:120] == known[0], known[1], known[0])
    diff = np.bitwise_xor(after, before)
    assert diff.any()

    assert not palette.has_unknown(after, diff)


# --- generic Gymnasium envs ------------------------------------------------------------------


def test_it_renders_tower_of_hanoi_as_rgb_frames() -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    reference = make_env("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    reference.reset(seed=0)

    for action in [2, 3, 1, 1, 3, 2, 0, 3]:
        machine.step(action)
        reference.step(action)

        assert machine.pixel_format == "rgb"
        assert machine.frame.shape == (160, 240, 3)
        assert machine.frame.dtype == np.uint8
        assert machine.frame.flags.c_contiguous
        assert np.array_equal(machine.frame, np.asarray(reference.render()))


def test_it_shows_the_move_in_the_next_frame() -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    before = machine.frame.copy()

    machine.step(2)  # RIGHT: the cursor moves to the middle peg

    assert not np.array_equal(machine.frame, before)


def test_it_reports_tower_of_hanoi_info_as_json() -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    machine.step(3)  # pick up the smallest disk
    machine.step(2)
    outcome = machine.step(3)  # and drop it on the middle peg: one move

    assert json.loads(json.dumps(outcome.info)) == outcome.info
    assert outcome.info == {"moves": 1, "illegal": False}
    assert machine.action_meanings == ["NOOP", "LEFT", "RIGHT", "PICKDROP"]
    assert machine.palette is None
    assert machine.new_colours() == []


def test_it_gives_tower_of_hanoi_frames_as_differences() -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    previous = machine.frame.copy()
    changed = 0

    for step, action in enumerate([2, 3, 1, 1, 3, 2, 0, 3, 2, 2, 3, 1, 0, 3] * 3, start=1):
        machine.step(action)
        frame = machine.frame.copy()

        assert_same_diff(machine.diff, np.bitwise_xor(frame, previous), step)
        changed += int(np.any(frame != previous))
        previous = frame

    assert changed > 10


def test_it_has_no_tower_of_hanoi_diff_right_after_start() -> None:
    machine = GymMachine("arcade/TowerOfHanoi-v0", {"n_disks": 4})
    machine.start(0, None)
    assert machine.diff is None
    machine.step(2)
    assert machine.diff is not None

    machine.start(1, None)

    assert machine.diff is None


class NumpyInfoEnv(gymnasium.Env[np.ndarray, np.int64]):
    """A Gymnasium env that, like many, reports numpy values in ``info``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.action_space = gymnasium.spaces.Discrete(2)
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        info = {
            "lives": np.int64(2),
            "x": np.float32(0.5),
            "done": np.bool_(True),
            "position": np.array([3, 4]),
            "image": np.zeros((16, 16)),
            "nested": {7: (np.int8(1), "a")},
        }
        return np.zeros(1, np.float32), 0.25, False, False, info

    def render(self) -> np.ndarray:
        return np.zeros((4, 6, 3), np.uint8)


gymnasium.register(id="arcade-tests/NumpyInfo-v0", entry_point=NumpyInfoEnv)  # type: ignore[arg-type]


def test_it_makes_numpy_info_json_safe() -> None:
    machine = GymMachine("arcade-tests/NumpyInfo-v0", {})
    machine.start(0, None)

    outcome = machine.step(1)

    assert outcome.info == {
        "lives": 2,
        "x": 0.5,
        "done": True,
        "position": [3, 4],
        "image": None,  # large arrays are left out, not dumped into every step's row
        "nested": {"7": [1, "a"]},
    }
    assert json.loads(json.dumps(outcome.info)) == outcome.info
    assert outcome.lives == 2


class GrowingEnv(gymnasium.Env[np.ndarray, np.int64]):
    """Renders a frame one row taller after each GROW (action 1), like a resized window."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.action_space = gymnasium.spaces.Discrete(2)
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.rows, self.steps = 4, 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.rows, self.steps = 4, 0
        return np.zeros(1, np.float32), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.rows += int(action)
        self.steps += 1
        return np.zeros(1, np.float32), 0.0, False, False, {}

    def render(self) -> np.ndarray:
        frame = np.zeros((self.rows, 6, 3), np.uint8)
        frame[:, :, 0] = self.steps  # every frame differs from the one before
        return frame


gymnasium.register(id="arcade-tests/Growing-v0", entry_point=GrowingEnv)  # type: ignore[arg-type]


def test_it_has_no_diff_when_the_frame_changes_shape() -> None:
    machine = GymMachine("arcade-tests/Growing-v0", {})
    machine.start(0, None)
    machine.step(0)
    assert machine.diff is not None

    machine.step(1)  # one row taller: nothing to XOR against

    assert machine.frame.shape == (5, 6, 3)
    assert machine.diff is None
    before = machine.frame.copy()
    machine.step(0)
    assert_same_diff(machine.diff, np.bitwise_xor(machine.frame, before), 3)


def test_it_refuses_an_env_without_discrete_actions() -> None:
    with pytest.raises(ValueError, match=r"Pendulum-v1 has a Box.*needs Discrete"):
        GymMachine("Pendulum-v1", {})


@pytest.mark.parametrize("env_id", ["ALE/NoSuchGame-v5", "arcade/NoSuchGame-v0", "NoSuchGame-v1"])
def test_it_refuses_an_unknown_env_id(env_id: str) -> None:
    with pytest.raises(gymnasium.error.NameNotFound, match="NoSuchGame"):
        make_env(env_id, {})


@pytest.mark.parametrize("from_start_state", [False, True])
def test_it_learns_each_episodes_palette_afresh_on_a_pooled_machine(
    from_start_state: bool,
) -> None:
    # A recording must name every colour it shows. A pooled machine has seen colours in its
    # last episode; the next one must report them again, or its chunks lack them.
    env_id, kwargs = "ALE/Breakout-v5", atari_kwargs()
    machine = started(env_id, kwargs, seed=1)
    for action in random_actions(len(machine.action_meanings), seed=1)[:100]:
        machine.step(action)

    state = atari_start_state(env_id, kwargs, 2) if from_start_state else None
    colours = machine.start(2, state)

    assert sorted(colours) == np.unique(machine.frame).tolist()


def test_it_carries_the_episodes_palette_when_it_moves_to_another_machine() -> None:
    env_id, kwargs = "ALE/Breakout-v5", atari_kwargs()
    here = started(env_id, kwargs, seed=3)
    for action in random_actions(len(here.action_meanings), seed=3)[:150]:
        here.step(action)
        here.new_colours()
    there = AtariMachine(env_id, kwargs)

    there.thaw(here.freeze())

    assert here.palette is not None and there.palette is not None
    assert there.palette.entries() == here.palette.entries()
