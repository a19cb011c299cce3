"""The Python client (``client/``, ``arcade_client``) against the live stack: its synchronous
and asyncio clients, the server's errors as exceptions, seeded episodes that replay, and the
Gymnasium env passing Gymnasium's own checker."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium
import numpy as np
import pytest
from arcade_client import ArcadeEnv, ArcadeError, AsyncClient, Client
from gymnasium.utils.env_checker import check_env

from agents import services
from arcade.tests.conftest import Stack, live_stack  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
def token(alice: Any, pong: Any) -> str:
    return services.issue(alice, "client tests")[1]


def socket(stack: Stack) -> str:
    return stack.url.replace("http://", "ws://") + "/ws"


def test_the_client_plays_an_episode_in_either_encoding_and_reads_its_state(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    screens = {}
    with Client(socket(live_stack), token) as arcade:
        for encoding in ("binary", "json"):
            first = arcade.reset(game_name="pong", seed=3, max_steps=30, encoding=encoding)
            assert first.legal_actions == (0, 1, 2, 3, 4, 5) and not first.done
            seen = [first, *(arcade.step(step % 6) for step in range(30))]
            assert [s.done for s in seen] == [False] * 30 + [True]  # max_steps
            assert seen[-1].episode_frame_number == 30
            screens[encoding] = np.stack([s.screen for s in seen])
        state = arcade.state()
        assert (state.step_count, state.game_name, state.frameskip) == (30, "pong", 4)
        assert state.episode_id
    assert arcade.closed
    assert screens["binary"].shape == (31, 210, 160, 3) and screens["binary"].dtype == np.uint8
    assert np.array_equal(screens["binary"], screens["json"])


def test_the_servers_errors_are_raised_with_their_code_and_the_session_goes_on(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    with pytest.raises(ArcadeError) as refused:
        Client(live_stack.url, "arc_00000000_wrong")
    assert refused.value.code == "unauthorized" and "account page" in refused.value.message
    with Client(live_stack.url, token) as arcade:
        for call, code in (
            (lambda: arcade.step(0), "not_started"),
            (lambda: arcade.reset(game_name="zork"), "unknown_game"),
            (lambda: arcade.reset(frameskip=99), "bad_option"),
        ):
            with pytest.raises(ArcadeError) as raised:
                call()
            assert raised.value.code == code, raised.value
        arcade.reset(max_steps=1)
        with pytest.raises(ArcadeError, match="bad_action"):
            arcade.step(6)
        arcade.step(0)
        with pytest.raises(ArcadeError) as over:
            arcade.step(0)
        assert over.value.code == "episode_over" and "reset" in over.value.message
        assert arcade.state().step_count == 1


async def test_the_asyncio_client_plays_as_the_synchronous_one(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    # palette: the recorded frame, which every machine of the server's can give (grayscale
    # and ram need an in-process emulator).
    with Client(live_stack.url, token) as arcade:
        expected = [arcade.reset(seed=9, obs_type="palette")]
        expected += [arcade.step(step % 6) for step in range(20)]
    async with AsyncClient(live_stack.url, token) as arcade:
        seen = [await arcade.reset(seed=9, obs_type="palette")]
        seen += [await arcade.step(step % 6) for step in range(20)]
        assert (await arcade.state()).step_count == 20
        with pytest.raises(ArcadeError, match="bad_action"):
            await arcade.step(-1)
    assert seen[0].screen.shape == (210, 160)
    assert all(np.array_equal(a.screen, b.screen) for a, b in zip(seen, expected, strict=True))
    with pytest.raises(ArcadeError, match="unauthorized"):
        await AsyncClient.open(live_stack.url, "arc_00000000_wrong")


def test_the_gymnasium_env_passes_gymnasiums_checker(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    env = gymnasium.make(
        "arcade_client:Arcade-v0", url=live_stack.url, token=token, game_name="pong"
    )
    assert env.action_space == gymnasium.spaces.Discrete(6)
    assert env.observation_space.shape == (210, 160, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's complaints are warnings
        check_env(env.unwrapped)
    env.close()
    env.close()  # twice is fine


def test_a_seeded_reset_replays_the_same_episode_and_max_steps_truncates(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    runs = []
    for _ in range(2):
        env = ArcadeEnv(
            live_stack.url, token, obs_type="rgb", max_steps=40, render_mode="rgb_array"
        )
        observation, info = env.reset(seed=21)
        observations, ends = [observation], []
        for step in range(40):
            observation, _, terminated, truncated, info = env.step(step % 6)
            observations.append(observation)
            ends.append((terminated, truncated))
        assert ends[-1] == (False, True) and ends[:-1] == [(False, False)] * 39
        assert info["episode_frame_number"] == 40
        frame = env.render()
        assert frame is not None and np.array_equal(frame, observation)
        env.close()
        runs.append(np.stack(observations))
    assert np.array_equal(runs[0], runs[1])
