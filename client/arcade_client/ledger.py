"""Which request a reply answers, when many sessions share one socket.

The server answers each session's requests in order, and names the session in every reply
about one (none for the default session ``""``). So a reply answers the oldest request still
waiting on its session. An error that names no session while the default session waits for
nothing (a server that does not know sessions refuses the option without naming it) answers
the oldest request of all, rather than leave it waiting for ever. Notices (``idle_timeout``,
``token_revoked``) answer nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

from .wire import NOTICES, ArcadeError, Observation, Reply, State

W = TypeVar("W")


class Ledger(Generic[W]):
    def __init__(self) -> None:
        self._waiting: deque[tuple[str, W]] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def expect(self, session: str, waiter: W) -> None:
        """A request about ``session`` was sent: ``waiter`` gets its reply."""
        self._waiting.append((session, waiter))

    def settle(self, reply: Reply) -> W | None:
        """The waiter this reply answers, taken off the ledger; None for a notice."""
        if isinstance(reply, ArcadeError) and reply.code in NOTICES:
            return None
        for index, (session, waiter) in enumerate(self._waiting):
            if session == reply.session:
                del self._waiting[index]
                return waiter
        if isinstance(reply, ArcadeError) and not reply.session and self._waiting:
            return self._waiting.popleft()[1]
        return None

    def drain(self) -> list[W]:
        """Every waiter left (the socket closed): none of them will be answered."""
        waiters = [waiter for _, waiter in self._waiting]
        self._waiting.clear()
        return waiters


class Notices:
    """What the server said of its own accord, by session: why it ended one (``idle_timeout``)
    or all (``token_revoked``). A request about an ended session is answered ``not_started``;
    the notice says why, so it is what a client raises."""

    def __init__(self) -> None:
        self.by_session: dict[str, ArcadeError] = {}

    def note(self, reply: Reply) -> None:
        if isinstance(reply, ArcadeError):
            self.by_session[reply.session] = reply

    def forget(self, session: str) -> None:
        """The session answered (a reset began it anew) or was ended by its client."""
        self.by_session.pop(session, None)

    def answers(self, replies: Sequence[Reply]) -> list[Observation | State]:
        """The replies to requests sent together, once every one is in: the sessions that
        answered are forgotten; the first error among them is raised (explained), after all are
        read, so that the socket stays in step."""
        errors = [reply for reply in replies if isinstance(reply, ArcadeError)]
        for reply in replies:
            if not isinstance(reply, ArcadeError):
                self.forget(reply.session)
        if errors:
            raise self.explain(errors[0])
        return [reply for reply in replies if not isinstance(reply, ArcadeError)]

    def explain(self, error: ArcadeError) -> ArcadeError:
        notice = self.by_session.pop(error.session, None)
        return notice if notice is not None and error.code == "not_started" else error

    def last_word(self) -> ArcadeError | None:
        """Why the server closed the socket, if it said: the token was revoked."""
        revoked = [n for n in self.by_session.values() if n.code == "token_revoked"]
        return revoked[-1] if revoked else None
