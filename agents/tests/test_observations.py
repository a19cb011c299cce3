"""An agent's grayscale screen is ALE's own, derived from the palette a recording keeps, so a
machine hosted in another process shows exactly what one in the web process does."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.sessions import Painted, grayscale
from games.engine.machines import AtariMachine
from games.engine.registry import register_all


@pytest.mark.parametrize("game", ["Pong", "Breakout", "MsPacman", "Seaquest"])
def test_grayscale_from_the_palette_is_ales_getScreenGrayscale(game: str) -> None:
    register_all()
    env = gym.make(f"ALE/{game}-v5")
    env.reset(seed=3)
    env.action_space.seed(3)
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    palette = np.zeros((256, 3), np.uint8)
    for _ in range(60):
        env.step(env.action_space.sample())
        indices = ale.getScreen()
        palette[indices.reshape(-1)] = ale.getScreenRGB().reshape(-1, 3)
        assert np.array_equal(grayscale(palette)[indices], ale.getScreenGrayscale())
    env.close()


@pytest.mark.parametrize("game", ["Pong", "MsPacman"])
def test_a_screen_repainted_word_by_word_is_the_whole_lookup(game: str) -> None:
    register_all()
    kwargs = {"frameskip": 4, "repeat_action_probability": 0.0, "full_action_space": False}
    machine = AtariMachine(f"ALE/{game}-v5", kwargs)
    rgb, gray = Painted(), Painted()
    rng = np.random.default_rng(5)
    for episode in range(2):  # the second starts on the first's screens: painted afresh
        machine.start(episode, None)
        assert machine.palette is not None
        changed = None
        for _ in range(150):
            colours = machine.palette.rgb
            shown = rgb.paint(machine.frame, colours, changed)
            assert np.array_equal(shown, colours[machine.frame])
            assert np.array_equal(machine.ale.getScreenRGB(), shown)
            dimmed = gray.paint(machine.frame, grayscale(colours), changed)
            assert np.array_equal(dimmed, machine.ale.getScreenGrayscale())
            machine.step(int(rng.integers(len(machine.action_set))))
            machine.new_colours()  # as a step's recording does, before the screen is shown
            changed = machine.changed
    machine.close()


def test_the_docs_show_every_schema_as_served() -> None:
    import json
    from pathlib import Path

    from agents import schema

    docs = (Path(__file__).resolve().parents[2] / "docs" / "agents.md").read_text()
    for name, served in schema.every().items():
        assert f"### `{name}`\n\n```json\n{json.dumps(served, indent=2)}\n```" in docs, name
