"""The Python client's reading and writing of the agent protocol, without a server: binary and
JSON observations, errors, which request a reply answers when sessions share a socket, the
server's address and token, and how a step's end becomes Gymnasium's terminated or truncated."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
from arcade_client import endpoint, wire
from arcade_client.env import changed, ends, session_options
from arcade_client.ledger import Ledger, Notices
from arcade_client.spaces import listed_actions
from arcade_client.wire import ArcadeError, Observation, State


def observation_data(screen: np.ndarray, **more: Any) -> dict[str, Any]:
    return {
        "observation": {
            "screen": screen.reshape(-1).tolist(),
            "screen_shape": list(screen.shape),
            "legal_actions": [0, 1, 2],
            "lives": 3,
            "episode_frame_number": 8,
            "frame_number": 8,
            "obs_type": "rgb",
        },
        "reward": 1.0,
        "done": False,
        **more,
    }


def binary(data: dict[str, Any], pixels: bytes) -> bytes:
    """An observation as docs/agents.md's binary encoding frames it."""
    header = {**data, "observation": {**data["observation"], "screen": None}}
    header["observation"]["screen_dtype"] = "uint8"
    text = json.dumps({"type": "observation", "data": header}).encode()
    return b"AOB1" + struct.pack("<I", len(text)) + text + pixels


SCREEN = np.arange(210 * 160 * 3, dtype=np.uint64).astype(np.uint8).reshape(210, 160, 3)


def test_it_reads_a_binary_observation_as_the_json_one() -> None:
    data = observation_data(SCREEN, session="left")
    from_binary = wire.decode(binary(data, SCREEN.tobytes()))
    from_json = wire.decode(json.dumps({"type": "observation", "data": data}))
    assert isinstance(from_binary, Observation) and isinstance(from_json, Observation)
    assert from_binary.screen.shape == (210, 160, 3) and from_binary.screen.dtype == np.uint8
    assert np.array_equal(from_binary.screen, SCREEN)
    assert np.array_equal(from_json.screen, SCREEN)
    assert from_binary.session == from_json.session == "left"
    assert (from_binary.reward, from_binary.done, from_binary.lives) == (1.0, False, 3)
    assert from_binary.legal_actions == (0, 1, 2) and from_binary.episode_frame_number == 8
    # A screen of its own, which training code may write into.
    assert from_binary.screen.flags.writeable


def test_it_refuses_a_binary_observation_whose_screen_is_not_its_shape() -> None:
    data = observation_data(SCREEN)
    for message in (
        binary(data, SCREEN.tobytes()[:-1]),
        b"AOB2" + binary(data, SCREEN.tobytes())[4:],
        binary(data, SCREEN.tobytes())[:20],
    ):
        reply = wire.decode(message)
        assert isinstance(reply, ArcadeError) and reply.code == "bad_reply"


def test_it_reads_errors_and_states_with_their_session() -> None:
    error = wire.decode(
        '{"type": "error", "data": {"code": "bad_action", "message": "0..5", "session": "b"}}'
    )
    assert isinstance(error, ArcadeError)
    assert (error.code, error.message, error.session) == ("bad_action", "0..5", "b")
    assert "bad_action" in str(error) and "'b'" in str(error)
    state = wire.decode('{"type": "state", "data": {"episode_id": "e1", "step_count": 4}}')
    assert state == State(episode_id="e1", step_count=4)
    for nonsense in ("[]", "{not json", '{"type": "dance", "data": {}}', '{"type": "state"}'):
        reply = wire.decode(nonsense)
        assert isinstance(reply, ArcadeError) and reply.code == "bad_reply"


def test_it_tells_terminated_from_truncated_as_the_server_says_or_its_own_max_steps() -> None:
    def seen(done: bool, **ends: bool) -> Observation:
        data = observation_data(SCREEN[:2, :2], done=done, **ends)
        reply = wire.decode(json.dumps({"type": "observation", "data": data}))
        assert isinstance(reply, Observation)
        return reply

    assert ends(seen(False), steps=5, max_steps=5) == (False, False)
    assert ends(seen(True), steps=3, max_steps=5) == (True, False)  # the game ended
    assert ends(seen(True), steps=5, max_steps=5) == (False, True)  # max_steps ended it
    assert ends(seen(True), steps=5, max_steps=None) == (True, False)
    told = seen(True, terminated=False, truncated=True)
    assert ends(told, steps=1, max_steps=None) == (False, True)
    # Arcade's server says done and truncated; terminated is done without truncated.
    assert ends(seen(True, truncated=True), steps=1, max_steps=None) == (False, True)
    assert ends(seen(True, truncated=False), steps=5, max_steps=5) == (True, False)
    assert ends(seen(False, truncated=False), steps=1, max_steps=None) == (False, False)


def test_a_request_names_its_session_and_only_an_encoding_other_than_json() -> None:
    reset = json.loads(wire.reset(game_name="pong", seed=7, session="s1").encode())
    assert reset == {
        "type": "reset",
        "data": {"game_name": "pong", "seed": 7, "encoding": "delta", "session": "s1"},
    }
    # JSON is the server's default: OpenEnv's own servers would refuse the option.
    assert json.loads(wire.reset(encoding="json").encode()) == {"type": "reset", "data": {}}
    # An action drawn from a Gymnasium space is a NumPy integer.
    step = json.loads(wire.step(np.int64(3)).encode())  # type: ignore[arg-type]
    assert step == {"type": "step", "data": {"action_id": 3}}
    assert not wire.close(session="s1").answered and wire.state().answered
    assert wire.end("s1") == wire.close(session="s1")
    with pytest.raises(ValueError, match="close"):
        wire.end("")  # the default session ends with the client


def test_an_envs_options_are_its_defaults_with_what_it_was_made_with() -> None:
    options = session_options({"game_name": "breakout", "max_steps": 100})
    assert options["game_name"] == "breakout" and options["frameskip"] == 4
    assert changed(options, {"max_steps": 5})["max_steps"] == 5
    data = json.loads(wire.reset(**options, seed=3).encode())["data"]
    assert data == {
        "game_name": "breakout",
        "obs_type": "rgb",
        "frameskip": 4,
        "full_action_space": False,
        "repeat_action_probability": 0.0,
        "max_steps": 100,
        "seed": 3,
        "encoding": "delta",
    }


def test_an_env_refuses_an_option_it_does_not_know_or_one_its_spaces_depend_on() -> None:
    with pytest.raises(TypeError, match="'max_step'"):
        session_options({"max_step": 100})
    with pytest.raises(TypeError, match="reset"):
        session_options({"seed": 3})  # reset(seed=...)'s
    with pytest.raises(ValueError, match="obs_type"):
        changed(session_options({}), {"obs_type": "ram"})


def test_a_reply_answers_the_oldest_request_of_its_session() -> None:
    ledger: Ledger[str] = Ledger()
    for waiter, session in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("default", "")):
        ledger.expect(session, waiter)

    def reply(session: str, code: str | None = None) -> wire.Reply:
        if code:
            return ArcadeError(code, "...", session=session)
        return State(episode_id=None, step_count=0, session=session)

    assert ledger.settle(reply("b")) == "b1"  # sessions answer in any order
    assert ledger.settle(reply("a", "bad_action")) == "a1"
    assert ledger.settle(reply("", "idle_timeout")) is None  # a notice answers nothing
    assert ledger.settle(reply("")) == "default"
    # An error naming no session (a server that does not know them refused the option)
    # answers the oldest request rather than leave it waiting.
    assert ledger.settle(reply("", "bad_option")) == "a2"
    assert len(ledger) == 0 and ledger.settle(reply("a")) is None


def test_a_notice_explains_the_next_not_started_until_the_session_is_reset() -> None:
    notices = Notices()
    idle = ArcadeError("idle_timeout", "No message for 300 s", session="a")
    notices.note(idle)
    not_started = ArcadeError("not_started", "Send reset first", session="a")
    assert notices.explain(not_started) is idle
    assert notices.explain(not_started) is not_started  # told once
    notices.note(idle)
    notices.forget("a")  # a reset began it anew
    assert notices.explain(not_started) is not_started
    assert notices.last_word() is None
    revoked = ArcadeError("token_revoked", "This session's API token was revoked.")
    notices.note(revoked)
    assert notices.last_word() is revoked


def test_the_token_goes_in_a_header_and_the_address_becomes_the_socket() -> None:
    assert endpoint.socket_url("http://arcade.example.org") == "ws://arcade.example.org/ws"
    assert endpoint.socket_url("https://example.org/arcade/") == "wss://example.org/arcade/ws"
    assert endpoint.socket_url("ws://127.0.0.1:8000/ws") == "ws://127.0.0.1:8000/ws"
    assert endpoint.http_url("wss://example.org/ws", "/metadata") == (
        "https://example.org/metadata"
    )
    assert endpoint.headers("arc_1") == {"Authorization": "Bearer arc_1"}
    with pytest.raises(ValueError, match="not inside the URL"):
        endpoint.socket_url("ws://agent:arc_1@example.org/ws")
    with pytest.raises(ValueError, match="ftp"):
        endpoint.socket_url("ftp://example.org")


def test_the_address_and_token_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARCADE_URL", raising=False)
    monkeypatch.delenv("ARCADE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="ARCADE_URL"):
        endpoint.socket_url(None)
    with pytest.raises(ValueError, match="account page"):
        endpoint.headers(None)
    monkeypatch.setenv("ARCADE_URL", "http://localhost:8000")
    monkeypatch.setenv("ARCADE_TOKEN", "arc_2")
    assert endpoint.socket_url(None) == "ws://localhost:8000/ws"
    assert endpoint.headers(None) == {"Authorization": "Bearer arc_2"}


def test_it_reads_a_games_actions_from_the_servers_metadata() -> None:
    listed = {"games": [{"game_name": "pong", "action_meanings": ["NOOP", "FIRE", "RIGHT"]}]}
    assert listed_actions(listed, "pong") == ("NOOP", "FIRE", "RIGHT")
    assert listed_actions(listed, "breakout") is None
    assert listed_actions({"games": [{"game_name": "pong"}]}, "pong") is None
    assert listed_actions(None, "pong") is None
