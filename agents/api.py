"""The agent API over HTTP: what OpenEnv's tools read (``/health``, ``/metadata``,
``/schema``, ``/openapi.json``, ``/mcp``), and stateful ``/sessions`` for clients that cannot
hold a socket (``agents/remote.py``). The token comes in a header, as on the socket."""

from __future__ import annotations

import base64
import json
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from games.engine.registry import atari_settings
from games.models import Game

from . import remote, schema, services
from .options import ENCODINGS, MOST_STEPS, OBS_TYPES
from .wire import BINARY_CONTENT_TYPE

API_VERSION = "1.0.0"
MAX_BODY = 64 * 1024


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _unauthorized() -> JsonResponse:
    return _error(
        401,
        "unauthorized",
        "Send an API token in the Authorization header (Bearer <token>); make one on your "
        "account page.",
    )


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy"})


def _games() -> list[dict[str, Any]]:
    games = []
    for game in Game.objects.filter(enabled=True).order_by("slug"):
        if not game.is_atari:
            continue
        if game.is_multi_seat:
            # A seat in a room of several, reached through its waiting room (docs/agents.md).
            config = game.config()
            games.append(
                {
                    "game_name": game.slug,
                    "title": game.title,
                    "env_id": game.env_id,
                    "action_meanings": game.action_meanings,
                    "seats": [{"seat": seat.index, "role": seat.role} for seat in config.seats],
                    "max_steps": game.max_steps,
                }
            )
            continue
        cartridge = atari_settings(game.env_id)
        games.append(
            {
                "game_name": game.slug,
                "title": game.title,
                "env_id": game.env_id,
                "action_meanings": game.action_meanings,
                "modes": list(cartridge.modes),
                "difficulties": list(cartridge.difficulties),
                "max_steps": game.max_steps,
            }
        )
    return games


@require_GET
def metadata(request: HttpRequest) -> JsonResponse:
    """OpenEnv's metadata (``name``, ``description``, ``version``…) and the games an agent may
    play, with what each may be asked (read from their cartridges)."""
    return JsonResponse(
        {
            "name": "arcade",
            "description": "Atari games for agents, over OpenEnv's protocol: every episode "
            "recorded, replay-verified and exportable like a person's.",
            "version": API_VERSION,
            "protocol": {
                "websocket": "/ws",
                "sessions": "/sessions",
                "obs_types": list(OBS_TYPES),
                "encodings": list(ENCODINGS),
                "frameskip": [1, 16],
                "most_steps": MOST_STEPS,
                "agent_sessions_per_process": settings.ARCADE["AGENT_SESSIONS"],
            },
            "games": _games(),
        }
    )


@require_GET
def schemas(request: HttpRequest) -> JsonResponse:
    return JsonResponse(schema.every())


def _operation(summary: str, *, body: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if body:
        operation["requestBody"] = {"content": {"application/json": {"schema": {}}}}
    return operation


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    """The HTTP endpoints, as ``openenv validate`` reads them (a server of stateful sessions
    has no stateless /reset, /step, /state: OpenEnv's "production" mode)."""
    return JsonResponse(
        {
            "openapi": "3.1.0",
            "info": {"title": "Arcade agent API", "version": API_VERSION},
            "paths": {
                "/health": {"get": _operation("Liveness")},
                "/metadata": {"get": _operation("The server and its games")},
                "/schema": {"get": _operation("JSON schemas of every message")},
                "/mcp": {"post": _operation("JSON-RPC 2.0 (no MCP tools)", body=True)},
                "/sessions": {"post": _operation("A new session: reset's data", body=True)},
                "/sessions/{session_id}": {
                    "get": _operation("The session's state"),
                    "delete": _operation("End the session"),
                },
                "/sessions/{session_id}/step": {"post": _operation("One step", body=True)},
            },
        }
    )


@csrf_exempt
@require_POST
def mcp(request: HttpRequest) -> JsonResponse:
    """JSON-RPC 2.0 as OpenEnv's servers answer it for an environment without MCP tools."""
    try:
        call = json.loads(request.body or b"null")
    except ValueError:
        call = None
    ident = call.get("id") if isinstance(call, dict) else None
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or "method" not in call:
        error = {"code": -32600, "message": "Invalid request: a JSON-RPC 2.0 call."}
    else:
        error = {
            "code": -32601,
            "message": "This environment offers no MCP tools: play over /ws or /sessions.",
        }
    return JsonResponse({"jsonrpc": "2.0", "id": ident, "error": error})


async def _token(request: HttpRequest) -> Any:
    raw = services.from_headers({k.lower(): v for k, v in request.headers.items()})
    return await sync_to_async(services.find)(raw) if raw else None


def _body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if len(request.body) > MAX_BODY:
        return _error(413, "bad_message", f"Send a JSON object of at most {MAX_BODY} bytes.")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "bad_message", "The body is not JSON.")
    if not isinstance(data, dict):
        return _error(400, "bad_message", "The body is a JSON object.")
    return data


def _response(answer: remote.Answer) -> HttpResponse:
    if answer.binary:
        return HttpResponse(
            base64.b64decode(answer.binary), status=answer.status, content_type=BINARY_CONTENT_TYPE
        )
    if answer.body is None:
        return HttpResponse(status=answer.status)
    return JsonResponse(answer.body, status=answer.status)


async def _asked(request: HttpRequest) -> tuple[Any, dict[str, Any]] | HttpResponse:
    """The request's token and JSON body, or the response refusing it."""
    token = await _token(request)
    if token is None:
        return _unauthorized()
    data = _body(request) if request.method == "POST" else {}
    if isinstance(data, JsonResponse):
        return data
    return token, data


@csrf_exempt
@require_POST
async def sessions(request: HttpRequest) -> HttpResponse:
    asked = await _asked(request)
    if isinstance(asked, HttpResponse):
        return asked
    return _response(await remote.create(*asked))


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
async def session(request: HttpRequest, session_id: str) -> HttpResponse:
    asked = await _asked(request)
    if isinstance(asked, HttpResponse):
        return asked
    kind = "state" if request.method == "GET" else "delete"
    return _response(await remote.ask(session_id, asked[0], kind))


@csrf_exempt
@require_POST
async def step(request: HttpRequest, session_id: str) -> HttpResponse:
    asked = await _asked(request)
    if isinstance(asked, HttpResponse):
        return asked
    token, data = asked
    return _response(await remote.ask(session_id, token, "step", data))
