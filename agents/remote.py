"""HTTP sessions: a client that cannot hold a socket keeps a session across requests.

Unlike OpenEnv's HTTP server, which builds a fresh emulator for every ``/reset`` and
``/step``, a session made by ``POST /sessions`` is a match (through the same ``Desk`` as a
socket's) hosted by the web process that made it, until it is deleted or idle for its token's
``idle_seconds``. Its id names where it is hosted (that process's inbox on the post office,
``play.hub``, and a random room there), so a request that reaches another web process is
passed to its host through Redis, and answered from there.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import re
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from play import hub as hubs
from play import protocol as p

from .desk import Desk

T = TypeVar("T")
# A reset may wait for a machine to be built (a cold start); a step is a round trip.
ASK_SECONDS = 30.0
_ID = re.compile(r"^(?P<channel>[0-9]+\.[0-9a-f]{16})\.(?P<room>[0-9a-f]{32})$")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a hosted session answers a request with, as it crosses processes (JSON)."""

    status: int
    body: dict[str, Any] | None = None  # JSON
    binary: str = ""  # a binary observation, base64 (it crosses the post office as JSON)

    def dumps(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "binary": self.binary}

    @classmethod
    def loads(cls, raw: dict[str, Any]) -> Answer:
        if "status" not in raw:  # the post office's own refusal: the session's room is gone
            return gone()
        return cls(status=int(raw["status"]), body=raw.get("body"), binary=raw.get("binary", ""))


def refused(exc: p.ProtocolError) -> Answer:
    status = {
        "not_started": 409, "episode_over": 409, "too_many_sessions": 429, "rate_limited": 429,
        "server_busy": 503, "internal": 500,
    }.get(exc.code, 400)  # fmt: skip
    return Answer(status, {"code": exc.code, "message": exc.message})


def gone() -> Answer:
    return Answer(
        404,
        {
            "code": "no_session",
            "message": "No such session: it was deleted, closed after being idle, or its "
            "server restarted. POST /sessions for a new one.",
        },
    )


class HttpSession:
    """One HTTP session, hosted here: a desk with its one session."""

    def __init__(self, token: Any) -> None:
        self.token = token
        self.desk = Desk(token, self._expired)
        self.room = uuid.uuid4().hex
        self.id = ""

    async def open(self) -> None:
        address = await hubs.hub().address(self.room, self._serve)
        self.id = f"{address.channel}.{self.room}"
        _hosted[self.id] = self

    async def _expired(self, _session: str, _code: str, _message: str) -> None:
        self._forget()

    def _forget(self) -> None:
        hubs.hub().close(self.room)
        _hosted.pop(self.id, None)

    async def _serve(self, message: dict[str, Any]) -> None:
        """A request from another web process, answered through the post office (from a task
        of its own: the post office delivers the next message meanwhile)."""

        async def answer() -> None:
            await hubs.reply(message["reply"], (await self.handle(message)).dumps())

        _detached(answer())

    async def handle(self, message: dict[str, Any]) -> Answer:
        if message.get("token") != self.token.pk:
            return gone()  # another token's session: as good as absent to this one
        kind, data = message.get("kind"), message.get("data") or {}
        try:
            if kind == "reset":
                if isinstance(data, dict) and data.get("encoding") == "delta":
                    # Each delta is coded against the screen before: a reply lost to a
                    # retried request would leave the client's screens wrong from then on.
                    raise p.ProtocolError(
                        "bad_option", '\'encoding\' "delta" is the socket\'s; use "binary" here.'
                    )
                return self.observation(await self.desk.reset("", data), status=201)
            if kind == "step":
                return self.observation(await self.desk.step("", data))
            if kind == "state":
                return Answer(200, self.desk.state(""))
            if kind == "delete":
                await self.desk.close_all()
                self._forget()
                return Answer(204)
        except p.ProtocolError as exc:
            return refused(exc)
        return Answer(400, {"code": "bad_message", "message": f"Unknown request {kind!r}."})

    def observation(self, seen: Any, *, status: int = 200) -> Answer:
        if self.desk.encoding("") == "binary":
            return Answer(status, binary=base64.b64encode(seen.binary(session_id=self.id)).decode())
        return Answer(status, seen.data(session_id=self.id))


_hosted: dict[str, HttpSession] = {}
_tasks: set[asyncio.Task[Any]] = set()


def _detached(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``work`` in a context of its own. A session outlives the request that made it, and
    its match's tasks inherit the context they are made in: a request's would hand them its
    sync_to_async executor, gone when the request is answered."""
    task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def create(token: Any, data: dict[str, Any]) -> Answer:
    async def made() -> Answer:
        session = HttpSession(token)
        await session.open()
        answer = await session.handle({"token": token.pk, "kind": "reset", "data": data})
        if answer.status >= 400:
            await session.desk.close_all()
            session._forget()
        return answer

    return await _detached(made())


async def ask(session_id: str, token: Any, kind: str, data: Any = None) -> Answer:
    """A request to a session, wherever it is hosted."""
    message = {"token": token.pk, "kind": kind, "data": data}
    here = _hosted.get(session_id)
    if here is not None:
        return await _detached(here.handle(message))
    found = _ID.match(session_id)
    if found is None:
        return gone()
    address = hubs.Address(channel=found["channel"], room=found["room"])
    if hubs.hub().inbox == address.channel:
        return gone()  # it was hosted here, and is no more
    return Answer.loads(await hubs.request(address, message, timeout=ASK_SECONDS))
