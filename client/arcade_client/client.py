"""The synchronous client: one socket to an Arcade server, one or many sessions on it.

    with Client("ws://localhost:8000/ws", token) as arcade:
        seen = arcade.reset(game_name="pong", seed=7)
        while not seen.done:
            seen = arcade.step(policy(seen.screen))

Each call waits for its reply. ``ask_many`` sends requests for several sessions before reading
any reply (pipelining), so N sessions cost one round trip a step instead of N.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from . import wire
from .endpoint import OPEN_TIMEOUT, TIMEOUT, Settings
from .ledger import Ledger, Notices
from .wire import ArcadeError, Observation, Reply, Request, ResetOptions, State, observation_of

if TYPE_CHECKING:  # typing's Unpack is Python 3.11's; the annotations are never evaluated
    from typing import Unpack


class Client:
    """A socket to Arcade's agent API; ``session`` names one of its sessions (``""``: the default
    one, which is all a client of one session needs)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = TIMEOUT,
        open_timeout: float = OPEN_TIMEOUT,
    ) -> None:
        self.settings = Settings.of(url, token, timeout=timeout, open_timeout=open_timeout)
        # Entered as a context manager, which websockets asks of a connection it is to close
        # (since 17.1); the stack closes it.
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection | None = self._stack.enter_context(
            connect(self.url, **self.settings.connect_options())
        )
        self._ledger: Ledger[int] = Ledger()
        self._tickets = itertools.count()
        self._screens = wire.Screens()  # the socket's delta-encoded sessions' screens
        self.notices = Notices()
        # One round trip now, so that a wrong token fails here (``unauthorized``), not at the
        # first step of a training run already set up.
        try:
            self.state()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The agent socket's address."""
        return self.settings.url

    def reset(self, *, session: str = "", **options: Unpack[ResetOptions]) -> Observation:
        """A new episode (``ResetOptions``: ``game_name``, ``seed``, ``obs_type``, …)."""
        return observation_of(self.ask(wire.reset(session=session, **options)))

    def step(self, action: int, *, session: str = "") -> Observation:
        return observation_of(self.ask(wire.step(action, session=session)))

    def state(self, *, session: str = "") -> State:
        return wire.state_of(self.ask(wire.state(session=session)))

    def end(self, session: str) -> None:
        """End one named session (its episode ends as abandoned); the socket stays open."""
        self._send([wire.end(session)])
        self.notices.forget(session)

    def ask(self, request: Request) -> Observation | State:
        return self.ask_many([request])[0]

    def ask_many(self, requests: Sequence[Request]) -> list[Observation | State]:
        """Send every request, then read their replies (in the requests' order). An error
        answering any of them is raised once all are read, so the socket stays in step."""
        tickets = self._send(requests)
        replies: dict[int, Reply] = {}
        while len(replies) < len(tickets):
            reply = self._receive()
            ticket = self._ledger.settle(reply)
            if ticket is None:
                self.notices.note(reply)
            elif ticket in tickets:
                replies[ticket] = reply
            # else: the late reply to a request whose wait was given up (a timeout): dropped.
        return self.notices.answers([replies[ticket] for ticket in tickets])

    def close(self) -> None:
        """End every session and close the socket (their episodes end as abandoned)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                ws.send(wire.close().encode())
        self._stack.close()

    @property
    def closed(self) -> bool:
        return self._ws is None

    def _send(self, requests: Sequence[Request]) -> list[int]:
        ws = self._open()
        tickets = []
        for request in requests:
            try:
                ws.send(request.encode())
            except ConnectionClosed as exc:
                raise self._closed(exc) from exc
            if request.answered:
                ticket = next(self._tickets)
                self._ledger.expect(request.session, ticket)
                tickets.append(ticket)
        return tickets

    def _receive(self) -> Reply:
        ws = self._open()
        try:
            message = ws.recv(timeout=self.settings.timeout)
        except TimeoutError:
            raise TimeoutError(
                f"No reply from {self.url} in {self.settings.timeout} s (Client(timeout=...))."
            ) from None
        except ConnectionClosed as exc:
            raise self._closed(exc) from exc
        return wire.decode(message, self._screens)

    def _closed(self, exc: ConnectionClosed) -> ArcadeError:
        """Why the server closed the socket: its last error (``unauthorized``,
        ``token_revoked``) if it said one, read from what is left of the socket."""
        ws, self._ws = self._ws, None
        self._ledger.drain()
        said: list[Reply] = []
        while ws is not None:
            try:
                said.append(wire.decode(ws.recv(timeout=0)))
            except (ConnectionClosed, TimeoutError):
                break
        self._stack.close()
        errors = [reply for reply in said if isinstance(reply, ArcadeError)]
        last_word = errors[-1] if errors else self.notices.last_word()
        if last_word is not None:
            return last_word
        frame = exc.rcvd
        why = f" ({frame.code} {frame.reason})".replace(" )", ")") if frame else ""
        return ArcadeError("closed", f"The server closed the socket{why}.")

    def _open(self) -> ClientConnection:
        if self._ws is None:
            raise ArcadeError("closed", "This client is closed: make a new one.")
        return self._ws
