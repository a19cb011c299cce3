"""The asyncio client: the synchronous client's calls, awaited.

    async with AsyncClient("ws://localhost:8000/ws", token) as arcade:
        seen = await arcade.reset(game_name="pong", seed=7)
        seen = await arcade.step(0)

One task reads the socket and hands each reply to the request it answers, so requests about
different sessions may be in flight together (``asyncio.gather`` of their steps: pipelining).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from . import wire
from .endpoint import OPEN_TIMEOUT, TIMEOUT, Settings
from .ledger import Ledger, Notices
from .wire import ArcadeError, Observation, Reply, Request, ResetOptions, State, observation_of

if TYPE_CHECKING:  # typing's Unpack is Python 3.11's; the annotations are never evaluated
    from typing import Unpack


class AsyncClient:
    """``await AsyncClient.open(url, token)``, or ``async with AsyncClient(url, token)``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = TIMEOUT,
        open_timeout: float = OPEN_TIMEOUT,
    ) -> None:
        self.settings = Settings.of(url, token, timeout=timeout, open_timeout=open_timeout)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ledger: Ledger[asyncio.Future[Reply]] = Ledger()
        self._gone: ArcadeError | None = None  # why the socket closed, once it has
        self.notices = Notices()

    @classmethod
    async def open(cls, url: str | None = None, token: str | None = None, **kw: Any) -> AsyncClient:
        client = cls(url, token, **kw)
        await client.connect()
        return client

    async def connect(self) -> None:
        self._ws = await connect(self.url, **self.settings.connect_options())
        self._reader = asyncio.create_task(self._read(self._ws))
        try:
            await self.state()  # a wrong token fails here, as with the synchronous client
        except BaseException:
            await self.close()
            raise

    async def __aenter__(self) -> AsyncClient:
        if self._ws is None:
            await self.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The agent socket's address."""
        return self.settings.url

    async def reset(self, *, session: str = "", **options: Unpack[ResetOptions]) -> Observation:
        """A new episode (``ResetOptions``: ``game_name``, ``seed``, ``obs_type``, …)."""
        return observation_of(await self.ask(wire.reset(session=session, **options)))

    async def step(self, action: int, *, session: str = "") -> Observation:
        return observation_of(await self.ask(wire.step(action, session=session)))

    async def state(self, *, session: str = "") -> State:
        return wire.state_of(await self.ask(wire.state(session=session)))

    async def end(self, session: str) -> None:
        """End one named session (its episode ends as abandoned); the socket stays open."""
        await self._post(wire.end(session))
        self.notices.forget(session)

    async def ask(self, request: Request) -> Observation | State:
        return (await self.ask_many([request]))[0]

    async def ask_many(self, requests: Sequence[Request]) -> list[Observation | State]:
        """Every request sent before any reply is awaited; the first error raised once all are
        answered."""
        futures = [await self._send(request) for request in requests]
        replies = await asyncio.wait_for(asyncio.gather(*futures), self.settings.timeout)
        return self.notices.answers(replies)

    async def close(self) -> None:
        """End every session and close the socket (their episodes end as abandoned)."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(wire.close().encode())
        await ws.close()
        if self._reader is not None:
            await self._reader

    @property
    def closed(self) -> bool:
        return self._ws is None

    async def _send(self, request: Request) -> asyncio.Future[Reply]:
        """Send a request that is answered; the future its reply will settle."""
        ws = self._open()
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        # Expected before anything is awaited: the reader, once the socket closes, settles
        # every future expected by then with why it closed.
        self._ledger.expect(request.session, future)
        with contextlib.suppress(ConnectionClosed):  # the reader says why, through the future
            await ws.send(request.encode())
        return future

    async def _post(self, request: Request) -> None:
        try:
            await self._open().send(request.encode())
        except ConnectionClosed:
            raise self._gone or ArcadeError("closed", "The server closed the socket.") from None

    def _open(self) -> ClientConnection:
        if self._ws is None or self._gone is not None:
            raise self._gone or ArcadeError("closed", "This client is closed: make a new one.")
        return self._ws

    async def _read(self, ws: ClientConnection) -> None:
        """Hand each reply to the request it answers, until the socket closes."""
        screens = wire.Screens()  # this socket's delta-encoded sessions' screens
        try:
            async for message in ws:
                reply = wire.decode(message, screens)
                future = self._ledger.settle(reply)
                if future is None:
                    self.notices.note(reply)
                elif not future.done():  # a caller that gave up waiting has cancelled it
                    future.set_result(reply)
        except ConnectionClosed:
            pass
        why = f" ({ws.close_code} {ws.close_reason or ''})".replace(" )", ")")
        self._gone = self.notices.last_word() or ArcadeError("closed", f"The socket closed{why}.")
        for future in self._ledger.drain():
            if not future.done():
                future.set_result(self._gone)
