"""The agent API over HTTP, against the live stack of two web processes: what OpenEnv's tools
read (``openenv validate`` passes), and sessions that outlive a request and are reached from
whichever web process a request lands on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import jsonschema
import numpy as np
import pytest
from openenv.cli._validation import validate_running_environment

from agents import schema, services, wire
from arcade.tests.conftest import Stack, live_stack  # noqa: F401 (the fixture)
from recording.models import Episode

pytestmark = pytest.mark.integration


def call(
    url: str, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def answer(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Any:
    status, _, raw = call(url, method, body, token)
    return status, (json.loads(raw) if raw else None)


@pytest.mark.stack_pinned
def test_openenv_validate_passes_and_sessions_live_across_requests_and_processes(
    live_stack: Stack,  # noqa: F811
    pong: Any,
    alice: Any,
    bob: Any,
) -> None:
    first, second = live_stack.urls
    report = validate_running_environment(first)
    assert report["passed"], [c for c in report["criteria"] if not c["passed"]]
    status, metadata = answer(f"{first}/metadata")
    pong_meta = next(game for game in metadata["games"] if game["game_name"] == "pong")
    assert (pong_meta["modes"], pong_meta["difficulties"]) == ([0, 1], [0, 1, 2, 3])
    status, schemas = answer(f"{first}/schema")
    assert set(schemas) >= {"action", "observation", "state", "reset", "error"}

    _, raw = services.issue(alice, "http")
    assert answer(f"{first}/sessions", "POST", {}, None)[0] == 401
    status, made = answer(
        f"{first}/sessions", "POST", {"seed": 3, "obs_type": "ram", "agent_name": "h"}, raw
    )
    assert status == 201, made
    jsonschema.validate(made, schema.OBSERVATION)
    session_id = made["session_id"]
    # every step on the other web process: passed to the session's host, answered from there
    for step in range(30):
        status, seen = answer(
            f"{second}/sessions/{session_id}/step", "POST", {"action_id": step % 6}, raw
        )
        assert status == 200, seen
        jsonschema.validate(seen, schema.OBSERVATION)
    status, state = answer(f"{second}/sessions/{session_id}", token=raw)
    assert status == 200 and state["step_count"] == 30 and state["seed"] == 3
    jsonschema.validate(state, schema.STATE)
    # bad input: a clear error, and the session goes on
    status, error = answer(f"{first}/sessions/{session_id}/step", "POST", {"action_id": 9}, raw)
    assert (status, error["code"]) == (400, "bad_action")
    jsonschema.validate(error, schema.ERROR)
    assert call(f"{first}/sessions/{session_id}/step", "POST", b"{nope", raw)[0] == 400
    status, error = answer(f"{first}/sessions", "POST", {"mode": 5}, raw)
    assert (status, error["code"]) == (400, "bad_option") and "0, 1" in error["message"]
    # another account's token finds no session there
    _, other = services.issue(bob, "http")
    status, error = answer(f"{second}/sessions/{session_id}", token=other)
    assert (status, error["code"]) == (404, "no_session")
    status, error = answer(f"{second}/sessions/123.0000000000000000.{'0' * 32}", token=raw)
    assert status == 404 and "POST /sessions" in error["message"]
    # delta observations are the socket's: each is coded against the reply before
    status, error = answer(f"{first}/sessions", "POST", {"encoding": "delta"}, raw)
    assert (status, error["code"]) == (400, "bad_option") and '"binary"' in error["message"]
    # binary observations over HTTP
    status, kind, body = call(f"{second}/sessions", "POST", {"encoding": "binary"}, raw)
    assert status == 201 and kind == wire.BINARY_CONTENT_TYPE
    message, screen = wire.read_binary(body)
    assert screen.shape == (210, 160, 3) and screen.dtype == np.uint8
    binary_id = message["data"]["session_id"]
    status, kind, body = call(f"{first}/sessions/{binary_id}/step", "POST", {"action_id": 1}, raw)
    assert status == 200 and wire.read_binary(body)[1].shape == (210, 160, 3)
    # past the token's sessions at once (two open now): refused, and nothing is left open
    from agents.models import ApiToken

    ApiToken.objects.filter(user=alice).update(max_sessions=2)
    status, error = answer(f"{first}/sessions", "POST", {"obs_type": "ram"}, raw)
    assert (status, error["code"]) == (429, "too_many_sessions")
    assert call(f"{first}/sessions/{binary_id}", "DELETE", token=raw)[0] == 204
    status, third = answer(f"{first}/sessions", "POST", {"obs_type": "ram"}, raw)
    assert status == 201
    assert call(f"{second}/sessions/{third['session_id']}", "DELETE", token=raw)[0] == 204
    # deleted: its episode ends, every step kept and verified like any other
    assert call(f"{first}/sessions/{session_id}", "DELETE", token=raw)[0] == 204
    assert answer(f"{second}/sessions/{session_id}", token=raw)[0] == 404
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        episode = Episode.objects.get(pk=state["episode_id"])
        if episode.verification not in ("", "pending") and episode.status != "active":
            break
        time.sleep(0.5)
    assert episode.steps == 30 and episode.verification == "verified"
    assert episode.context["agent"]["name"] == "h"
