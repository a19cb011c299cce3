"""OpenEnv's own client (``openenv-core`` from PyPI) drives Arcade unchanged, against the live
stack: its episode is recorded, finalised and verified by the workers like a person's."""

from __future__ import annotations

import time
from typing import Any

import pytest
from openenv.core.generic_client import GenericEnvClient

from agents import services
from arcade.tests.conftest import Stack, live_stack  # noqa: F401 (the fixture)
from recording.models import Episode, EpisodeSeat

pytestmark = pytest.mark.integration


def test_openenv_client_resets_steps_reads_state_and_closes(
    live_stack: Stack,  # noqa: F811
    pong: Any,
    alice: Any,
) -> None:
    _, raw = services.issue(alice, "openenv check")
    # OpenEnv's client sets no headers of its own: a URL's user:token@ becomes an
    # Authorization header (Basic), so the token is never part of the request's URL.
    base = live_stack.url.replace("http://", f"http://agent:{raw}@")
    with GenericEnvClient(base_url=base).sync() as env:
        result = env.reset(game_name="pong", seed=7, agent_name="random", agent_version="1")
        observation = result.observation
        assert observation["screen_shape"] == [210, 160, 3]
        assert len(observation["screen"]) == 210 * 160 * 3
        assert observation["legal_actions"] == list(range(6))
        steps = 0
        total = 0.0
        for step in range(300):
            result = env.step({"action_id": step % 6})
            steps += 1
            total += result.reward or 0.0
            if result.done:
                break
        state = env.state()
        assert state["step_count"] == steps and state["game_name"] == "pong"
        assert state["frameskip"] == 4
        episode_id = state["episode_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        episode = Episode.objects.get(pk=episode_id)
        if episode.verification not in ("", "pending") and episode.status != "active":
            break
        time.sleep(0.5)
    assert episode.status == "complete" and episode.verification == "verified"
    assert episode.steps == steps and episode.total_return == total
    assert episode.env_spec["env_kwargs"]["frameskip"] == 4
    assert episode.context["agent"] == {"name": "random", "version": "1", "token": raw[4:12]}
    seat = EpisodeSeat.objects.get(episode=episode)
    assert (seat.kind, seat.user_id) == ("agent", alice.pk)
