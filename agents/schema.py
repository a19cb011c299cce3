"""JSON schemas of every message of the agent API (served at ``/schema``, shown in
docs/agents.md, and checked against real messages by the tests).

``action``, ``observation`` and ``state`` are what OpenEnv's ``/schema`` names (its
``openenv validate`` reads them); ``reset``, ``request`` (any message a client sends) and
``error`` are the rest.
"""

from __future__ import annotations

from typing import Any

from .options import ENCODINGS, MOST_STEPS, OBS_TYPES

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_SESSION = {
    "type": "string",
    "maxLength": 64,
    "description": "Which of the socket's sessions (Arcade's; absent: the default one).",
}
_SMALL = {"type": "integer", "minimum": 0, "maximum": 255}
REQUIRED_OBSERVATION = [
    "screen", "screen_shape", "legal_actions", "lives", "episode_frame_number", "frame_number",
    "obs_type",
]  # fmt: skip
ERROR_CODES = [
    "unauthorized", "bad_message", "bad_option", "unknown_game", "not_started", "bad_action",
    "episode_over", "token_revoked", "too_many_sessions", "rate_limited", "server_busy",
    "idle_timeout", "no_session", "lobby_cancelled", "busy", "internal",
]  # fmt: skip

ACTION: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "step data",
    "type": "object",
    "properties": {
        "action_id": {"type": "integer", "minimum": 0, "description": "One of legal_actions."},
        "game_name": {"type": "string", "description": "OpenEnv's; ignored on a step."},
        "obs_type": {"type": "string", "description": "OpenEnv's; ignored on a step."},
        "full_action_space": {"type": "boolean", "description": "OpenEnv's; ignored."},
        "session": _SESSION,
    },
    "required": ["action_id"],
}

RESET: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "reset data",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "game_name": {"type": "string", "maxLength": 100, "default": "pong"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "obs_type": {"enum": list(OBS_TYPES), "default": "rgb"},
        "full_action_space": {"type": "boolean", "default": False},
        "mode": {**_SMALL, "description": "One of the game's modes (/metadata)."},
        "difficulty": {**_SMALL, "description": "One of the game's difficulties (/metadata)."},
        "repeat_action_probability": {"type": "number", "minimum": 0, "maximum": 1},
        "frameskip": {"type": "integer", "minimum": 1, "maximum": 16, "default": 4},
        "max_steps": {"type": "integer", "minimum": 1, "maximum": MOST_STEPS},
        "encoding": {"enum": list(ENCODINGS), "default": "json"},
        "agent_name": {"type": "string", "maxLength": 100},
        "agent_version": {"type": "string", "maxLength": 100},
        "episode_id": {"type": ["string", "null"], "description": "OpenEnv's; ignored."},
        "session": _SESSION,
    },
}

OBSERVATION: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "observation data",
    "type": "object",
    "properties": {
        "observation": {
            "type": "object",
            "properties": {
                "screen": {
                    "type": ["array", "null"],
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "description": "Flat, C order; null in a binary observation (the bytes "
                    "follow its JSON).",
                },
                "screen_shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "screen_dtype": {"const": "uint8"},
                "screen_codec": {
                    "enum": ["keyframe", "delta"],
                    "description": "How a delta-encoded observation's bytes are coded.",
                },
                "legal_actions": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "lives": {"type": "integer"},
                "episode_frame_number": {"type": "integer", "minimum": 0},
                "frame_number": {"type": "integer", "minimum": 0},
                "obs_type": {"enum": list(OBS_TYPES)},
            },
            "required": REQUIRED_OBSERVATION,
        },
        "reward": {"type": "number"},
        "done": {"type": "boolean"},
        "truncated": {"type": "boolean", "description": "Ended by max_steps (done too)."},
        "terminated": {"type": "boolean", "description": "The game's own end (done too)."},
        "episode_id": {"type": "string", "description": "The recorded episode of this step."},
        "session": _SESSION,
        "session_id": {"type": "string", "description": "An HTTP session's id."},
    },
    "required": ["observation", "reward", "done", "truncated", "terminated", "episode_id"],
}

STATE: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "state data",
    "type": "object",
    "properties": {
        "episode_id": {"type": ["string", "null"]},
        "step_count": {"type": "integer", "minimum": 0},
        "game_name": {"type": "string"},
        "obs_type": {"enum": list(OBS_TYPES)},
        "full_action_space": {"type": "boolean"},
        "mode": {"type": ["integer", "null"]},
        "difficulty": {"type": ["integer", "null"]},
        "repeat_action_probability": {"type": "number"},
        "frameskip": {"type": "integer"},
        "seed": {"type": ["integer", "null"]},
        "max_steps": {"type": "integer"},
        "encoding": {"enum": list(ENCODINGS)},
        "done": {"type": "boolean"},
        "seat": {"type": "integer", "minimum": 0, "description": "A room's seat (of several)."},
        "role": {"type": "string", "description": "Who that seat is on the screen."},
        "session": _SESSION,
    },
    "required": ["episode_id", "step_count"],
}

ERROR: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "error data",
    "type": "object",
    "properties": {
        "code": {"enum": ERROR_CODES},
        "message": {"type": "string", "description": "What to fix, for a person."},
        "session": _SESSION,
    },
    "required": ["code", "message"],
}

REQUEST: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "a client's message on /ws",
    "type": "object",
    "properties": {
        "type": {"enum": ["reset", "step", "state", "close"]},
        "data": {"type": "object", "properties": {"session": _SESSION}},
    },
    "required": ["type"],
}


def every() -> dict[str, dict[str, Any]]:
    """``/schema``'s answer: OpenEnv's three, then Arcade's."""
    return {
        "action": ACTION,
        "observation": OBSERVATION,
        "state": STATE,
        "reset": RESET,
        "request": REQUEST,
        "error": ERROR,
    }
