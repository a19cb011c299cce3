"""``bench agents``'s pure parts: its arithmetic, its CPU accounting, the lean client's reading
of the wire, and the OpenEnv Atari server it builds. No figure is asserted: the machine is
shared, so speeds are the bench's to report, not a test's to check."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from bench.agent_client import HEADER, MAGIC, decode, encode, ws_url
from bench.agent_load import Window, cpu_delta, per_core, percentile
from bench.agents import headline
from bench.openenv_atari import AtariAction, AtariEnvironment
from bench.stack import cpu_seconds_of_tree


def window(server: str, client: str, steps: int, cpu: float, recording: float = 0.0) -> Window:
    return Window(
        server=server,
        client=client,
        obs_type="rgb",
        frameskip=4,
        encoding="json",
        sessions=1,
        steps=steps,
        seconds=1.0,
        server_cpu_s=cpu,
        recording_cpu_s=recording,
        errors=[],
    )


def test_it_takes_the_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0
    assert percentile([], 0.5) == 0.0


def test_it_counts_steps_per_cpu_second_and_none_without_cpu() -> None:
    assert per_core(300, 1.5) == 200.0
    assert per_core(300, 0.0) == 0.0


def test_it_adds_the_cpu_of_the_roles_asked_for() -> None:
    before = {"web": 1.0, "worker": 2.0, "redis": 0.5}
    after = {"web": 3.0, "worker": 2.5, "redis": 0.75, "verifier": 1.0}
    assert cpu_delta(before, after, ("web",)) == 2.0
    assert cpu_delta(before, after, ("worker", "redis", "verifier")) == 1.75


def test_it_keeps_the_cpu_of_a_child_that_ended() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         f"subprocess.run([sys.executable, '-c', {burn!r}])\n"
         "print('ended', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "ended\n"
        # The child burned its 0.3 s and is gone from /proc; waited for, it counts in its
        # parent's (cutime), so the tree's CPU never falls as processes come and go.
        assert cpu_seconds_of_tree(parent.pid) >= 0.3
    finally:
        parent.kill()
        parent.wait()


def test_it_reads_a_binary_observation_as_a_view_of_its_screen() -> None:
    screen = np.arange(210 * 160 * 3, dtype=np.uint32).astype(np.uint8).reshape(210, 160, 3)
    data = {
        "observation": {"screen": None, "screen_shape": [210, 160, 3], "screen_dtype": "uint8"},
        "reward": 1.0,
        "done": False,
        "session": "a1",
    }
    header = json.dumps({"type": "observation", "data": data}).encode()
    message = HEADER.pack(MAGIC, len(header)) + header + screen.tobytes()
    reply = decode(message)
    assert reply["data"]["session"] == "a1" and reply["data"]["reward"] == 1.0
    assert np.array_equal(reply["data"]["observation"]["screen"], screen)


def test_it_rebuilds_delta_encoded_screens_on_the_sessions_screen_before() -> None:
    from arcade_client.wire import Screens

    from agents.wire import Observation

    def seen(screen: np.ndarray, frame: int) -> Observation:
        return Observation(
            screen=screen, legal=6, lives=0, frame=frame, reward=0.0, done=False,
            truncated=False, obs_type="rgb", episode_id="e",
        )  # fmt: skip

    first = np.random.default_rng(1).integers(256, size=(210, 160, 3), dtype=np.uint8)
    second = first.copy()
    second[100:104, 20:30] = 7  # a paddle moved
    screens = Screens()
    keyframe = decode(seen(first, 0).delta(None, session="a1"), screens)
    assert np.array_equal(keyframe["data"]["observation"]["screen"], first)
    delta = seen(second, 4).delta(first, session="a1")
    assert len(delta) < 2_000
    assert np.array_equal(decode(delta, screens)["data"]["observation"]["screen"], second)


def test_it_reads_json_text_as_is() -> None:
    text = json.dumps({"type": "error", "data": {"code": "bad_action", "message": "no"}})
    assert decode(text) == {"type": "error", "data": {"code": "bad_action", "message": "no"}}


def test_it_names_a_session_only_when_it_has_one() -> None:
    assert json.loads(encode("step", {"action_id": 2})) == {
        "type": "step",
        "data": {"action_id": 2},
    }
    assert json.loads(encode("step", {"action_id": 2}, session="a3"))["data"] == {
        "action_id": 2,
        "session": "a3",
    }
    assert json.loads(encode("close")) == {"type": "close", "data": {}}
    assert ws_url("http://127.0.0.1:8000/") == "ws://127.0.0.1:8000/ws"


def test_it_reports_the_median_round_and_the_median_ratio() -> None:
    rounds = [
        {
            "arcade/openenv": window("arcade", "openenv", steps, cpu=1.0, recording=1.0),
            "openenv/openenv": window("openenv", "openenv", 100, cpu=1.0),
            "arcade/lean": window("arcade", "lean", steps * 2, cpu=1.0),
            "openenv/lean": window("openenv", "lean", 100, cpu=1.0),
        }
        for steps in (200, 1000, 300)
    ]
    figures = headline(rounds)
    assert figures["arcade_steps_per_core_s"] == 300.0
    assert figures["openenv_steps_per_core_s"] == 100.0
    assert figures["ratio"] == 3.0
    assert figures["arcade_steps_per_core_s_with_recording"] == 150.0
    assert figures["ratio_with_recording"] == 1.5
    assert figures["lean_ratio"] == 6.0


def test_it_serves_openenvs_atari_fields() -> None:
    env = AtariEnvironment(game_name="pong", obs_type="ram", frameskip=4)
    first = env.reset()
    assert first.screen_shape == [128] and len(first.screen) == 128
    assert first.legal_actions == list(range(6))
    observation = env.step(AtariAction(action_id=2))
    assert observation.frame_number == first.frame_number + 4
    assert observation.episode_frame_number == 4
    assert env.state.step_count == 1 and env.state.frameskip == 4
