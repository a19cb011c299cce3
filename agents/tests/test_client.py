"""The Python client (``client/``, ``arcade_client``) against the live stack: its synchronous
and asyncio clients, the server's errors as exceptions, seeded episodes that replay, and the
Gymnasium env passing Gymnasium's own checker."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import gymnasium
import numpy as np
import pytest
from arcade_client import (
    ArcadeEnv,
    ArcadeError,
    ArcadeVectorEnv,
    AsyncClient,
    Client,
    NoActionMeaningsError,
)
from arcade_client import endpoint as client_endpoint
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

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
        for encoding in ("delta", "binary", "json"):
            first = arcade.reset(game_name="pong", seed=3, max_steps=30, encoding=encoding)
            assert first.legal_actions == (0, 1, 2, 3, 4, 5) and not first.done
            seen = [first, *(arcade.step(step % 6) for step in range(30))]
            assert [s.done for s in seen] == [False] * 30 + [True]  # max_steps
            assert seen[-1].episode_frame_number == 30 * 4  # emulator frames: frameskip 4
            screens[encoding] = np.stack([s.screen for s in seen])
        state = arcade.state()
        assert (state.step_count, state.game_name, state.frameskip) == (30, "pong", 4)
        assert (state.seed, state.max_steps, state.encoding, state.done) == (3, 30, "json", True)
        assert state.episode_id
    assert arcade.closed
    assert screens["binary"].shape == (31, 210, 160, 3) and screens["binary"].dtype == np.uint8
    assert np.array_equal(screens["binary"], screens["json"])
    assert np.array_equal(screens["delta"], screens["json"])


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
    with Client(live_stack.url, token) as arcade:
        expected = [arcade.reset(seed=9, obs_type="ram")]
        expected += [arcade.step(step % 6) for step in range(20)]
    async with AsyncClient(live_stack.url, token) as arcade:
        seen = [await arcade.reset(seed=9, obs_type="ram")]
        seen += [await arcade.step(step % 6) for step in range(20)]
        assert (await arcade.state()).step_count == 20
        with pytest.raises(ArcadeError, match="bad_action"):
            await arcade.step(-1)
        # Two named sessions in flight together, each answered with its own observation.
        await asyncio.gather(
            *(arcade.reset(session=name, seed=9, obs_type="ram") for name in ("a", "b"))
        )
        for step in range(20):
            both = await asyncio.gather(
                arcade.step(step % 6, session="a"), arcade.step(step % 6, session="b")
            )
        assert [seen.session for seen in both] == ["a", "b"]
        assert all(np.array_equal(seen.screen, expected[-1].screen) for seen in both)
    assert seen[0].screen.shape == (128,)
    assert all(np.array_equal(a.screen, b.screen) for a, b in zip(seen, expected, strict=True))
    with pytest.raises(ArcadeError, match="unauthorized"):
        await AsyncClient.open(live_stack.url, "arc_00000000_wrong")


def test_a_session_the_server_ended_raises_why_at_its_next_step(
    live_stack: Stack,  # noqa: F811
    alice: Any,
    pong: Any,
) -> None:
    token, raw = services.issue(alice, "idles")
    token.idle_seconds = 1
    token.save(update_fields=["idle_seconds"])
    with Client(live_stack.url, raw) as arcade:
        arcade.reset(session="slow", obs_type="palette")
        arcade.reset(obs_type="palette")
        time.sleep(8)  # idle for a second, and the server looks every five
        with pytest.raises(ArcadeError) as ended:
            arcade.step(0, session="slow")
    # Not the bare "not_started" the step itself got: the server's notice of why.
    assert ended.value.code == "idle_timeout" and ended.value.session == "slow"


def test_the_gymnasium_env_passes_gymnasiums_checker(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    env = gymnasium.make(
        "arcade_client:Arcade-v0", url=live_stack.url, token=token, game_name="pong"
    )
    assert env.action_space == gymnasium.spaces.Discrete(6)
    # The actions' names, from the server's /metadata, as ALE's env gives them.
    assert env.unwrapped.get_action_meanings()[:2] == ["NOOP", "FIRE"]  # type: ignore[attr-defined]
    assert env.observation_space.shape == (210, 160, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's complaints are warnings
        check_env(env.unwrapped)
    env.close()
    env.close()  # twice is fine


def test_it_says_what_to_do_when_the_server_does_not_name_the_actions(
    live_stack: Stack,  # noqa: F811
    token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server whose /metadata lists no actions: the env counts them with a reset instead.
    monkeypatch.setattr(client_endpoint, "get_json", lambda *args, **kwargs: {"games": []})
    env = ArcadeEnv(live_stack.url, token, game_name="pong")
    assert env.action_space == gymnasium.spaces.Discrete(6)
    with pytest.raises(NoActionMeaningsError) as unnamed:
        env.get_action_meanings()
    env.close()
    # Still the NotImplementedError it was, for code that catches that.
    assert isinstance(unnamed.value, ArcadeError) and isinstance(unnamed.value, NotImplementedError)
    assert unnamed.value.code == "no_action_meanings" and unnamed.value.game_name == "pong"
    assert f"{live_stack.url}/metadata" in unnamed.value.message
    assert "full_action_space=True" in unnamed.value.message


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
        assert info["episode_frame_number"] == 40 * 4
        frame = env.render()
        assert frame is not None and np.array_equal(frame, observation)
        env.close()
        runs.append(np.stack(observations))
    assert np.array_equal(runs[0], runs[1])


def test_the_vector_env_steps_every_session_on_one_socket_and_resets_them_next_step(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    envs = ArcadeVectorEnv(3, live_stack.url, token, obs_type="palette", max_steps=12)
    assert envs.action_space.shape == (3,) and envs.observation_space.shape == (3, 210, 160)
    observations, infos = envs.reset(seed=[5, 5, 6])
    assert observations.shape == (3, 210, 160) and list(infos["episode_frame_number"]) == [0] * 3
    # The first two sessions play the same seed and actions, the third its own: each reply
    # must reach its own session for the first two to stay alike and the third to part.
    parted = False
    for step in range(12):
        observations, rewards, terminations, truncations, infos = envs.step(
            np.array([2, 2, 3 if step % 2 else 4])
        )
        assert np.array_equal(observations[0], observations[1])
        parted = parted or not np.array_equal(observations[0], observations[2])
        assert not terminations.any() and truncations.all() == (step == 11)
    assert parted and list(infos["episode_frame_number"]) == [12 * 4] * 3
    # The step after an episode's last begins the next episode, with no reward.
    observations, rewards, terminations, truncations, infos = envs.step(np.zeros(3, np.int64))
    assert list(infos["episode_frame_number"]) == [0] * 3 and not rewards.any()
    assert not (terminations | truncations).any()
    assert envs.client.state(session="env2").step_count == 0
    envs.close()


def test_make_vec_finds_the_vector_env_and_same_step_keeps_the_final_observation(
    live_stack: Stack,  # noqa: F811
    token: str,
) -> None:
    envs = gymnasium.make_vec(
        "arcade_client:Arcade-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        url=live_stack.url,
        token=token,
        max_steps=2,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=1)
    envs.step(envs.action_space.sample())
    observations, _, _, truncations, infos = envs.step(envs.action_space.sample())
    assert truncations.all() and infos["_final_obs"].all()
    assert observations.shape == (2, 210, 160, 3) and infos["final_obs"][0].shape == (210, 160, 3)
    assert list(infos["final_info"]["episode_frame_number"]) == [2 * 4, 2 * 4]
    assert list(infos["episode_frame_number"]) == [0, 0]  # the next episode's first screen
    envs.close()
