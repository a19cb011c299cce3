"""ALE machines in processes of their own, for starts that would otherwise stall other games.

ale-py holds the GIL for the whole of ``loadROM`` (~70-100 ms, two thirds of it in Stella's
colour-averaging table), so a machine built anywhere in a web process, on a thread or not,
stops every game that process is playing for that long. A ``HostedMachine`` is built and
stepped in a child process instead: the web process only sends it actions and copies back
its frames, so a burst of cold starts costs the games already running nothing but a share
of the cores. The pool gives one out only when it has no idle machine and a game is being
played on the process (``MachinePool``); otherwise a machine built in-process is cheaper to
step (no round trip).

Children are forked from multiprocessing's fork server, which has imported this module (and
so gymnasium and ale-py) once: a hosted machine is ready in about the time of its build. A
child serves one machine and exits when its pipe closes, which it does when the machine is
closed or the web process dies, however it dies.

The messages across the pipe are the typed structures below; a request gets exactly one reply.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import signal
import threading
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from .machines import PIXELS_INDEXED, AtariMachine, Outcome, Palette
from .registry import register_all
from .screens import Screens

# --- requests (web process -> host) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    seed: int
    state: bytes | None  # a seeded start state from the seeding helper, or None to reset here


@dataclass(frozen=True, slots=True)
class Step:
    action: int


@dataclass(frozen=True, slots=True)
class Freeze:
    pass


@dataclass(frozen=True, slots=True)
class Thaw:
    frozen: bytes


@dataclass(frozen=True, slots=True)
class Peek:
    """The machine's RAM now (what the agent API's ``ram`` observations show)."""


Request = Start | Step | Freeze | Thaw | Peek

# --- replies (host -> web process) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The machine is built: what the web process needs to know of it."""

    action_meanings: list[str]
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Shown:
    """The frame now on the machine's screen, and what it taught the machine's palette."""

    frame: bytes
    colours: list[list[int]]  # [index, r, g, b] of the colours first seen in it
    outcome: Outcome | None = None  # after a Step
    palette: Palette | None = None  # after a Thaw: the episode's whole palette


@dataclass(frozen=True, slots=True)
class Frozen:
    frozen: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    error: str


@dataclass(frozen=True, slots=True)
class Memory:
    ram: bytes


Reply = Ready | Shown | Frozen | Failed | Memory


class HostError(RuntimeError):
    """The hosted machine failed or its process is gone; the game on it cannot go on."""


def _serve(conn: Connection, env_id: str, env_kwargs: dict[str, Any]) -> None:
    """The child: build one machine, then answer requests until the pipe closes."""
    # A stopping web process (Ctrl-C or SIGTERM to its process group) hands its games over
    # while it drains, which needs their machines: a host lives until its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    register_all()
    try:
        machine = AtariMachine(env_id, env_kwargs)
    except Exception as exc:
        conn.send(Failed(f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(Ready(list(machine.action_meanings), machine.frame.shape))
        while True:
            try:
                request: Request = conn.recv()
            except (EOFError, OSError):
                return  # closed, or the web process is gone
            try:
                reply = _answer(machine, request)
            except Exception as exc:  # the web process ends that game; this host stays sane
                reply = Failed(f"{type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except OSError:
                return
    finally:
        machine.close()


def _answer(machine: AtariMachine, request: Request) -> Reply:
    assert machine.palette is not None
    if isinstance(request, Step):
        outcome = machine.step(request.action)
        colours = machine.palette.entries(machine.new_colours())
        return Shown(machine.frame.tobytes(), colours, outcome=outcome)
    if isinstance(request, Start):
        learned = machine.start(request.seed, request.state)
        return Shown(machine.frame.tobytes(), machine.palette.entries(learned))
    if isinstance(request, Peek):
        return Memory(machine.ram().tobytes())
    if isinstance(request, Freeze):
        return Frozen(machine.freeze())
    if isinstance(request, Thaw):
        machine.thaw(request.frozen)
        return Shown(machine.frame.tobytes(), [], palette=machine.palette)
    raise TypeError(f"unknown request {request!r}")


@functools.cache
def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    # Only the first call before the server starts counts: the server imports this module
    # (gymnasium and ale-py with it) once, and every host is forked from it. The server
    # imports the web process's main module too (multiprocessing's rule: a child has it), so
    # that the hosts do not each import it again (Daphne's, with Twisted).
    context.set_forkserver_preload(["__main__", __name__])
    return context


def open_hosts() -> int:
    """How many hosts this process has open (built and not closed)."""
    return sum(1 for machine in list(_open) if not machine._conn.closed)


def start_fork_server() -> None:
    """Start the fork server now (it is otherwise started by the first host, which waits)."""
    _context()
    from multiprocessing import forkserver

    forkserver.ensure_running()


# Every host this process made and has not closed.
_open: weakref.WeakSet[HostedMachine] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close every host's pipe as this process exits, before multiprocessing's own exit
    handler (registered earlier, so run later) joins its children: a host ignores SIGTERM
    (it must outlive a draining web process) and exits only when its pipe closes."""
    for machine in list(_open):
        machine.close()


STEP_TIMEOUT = 1.0  # seconds; a step takes well under a millisecond


class HostedMachine:
    """A ``Machine`` whose ALE runs in a child process; see the module's docstring.

    ``start`` launches the child and waits for its build; call it off the event loop. After
    that each call is one round trip (a step: the action out, the frame and the outcome back).
    """

    pixel_format = PIXELS_INDEXED

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], *, timeout: float = 60) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()  # thaw runs on a thread; never two calls on one pipe
        ours, theirs = multiprocessing.Pipe()
        self._conn = ours
        self._process = _context().Process(
            target=_serve, args=(theirs, env_id, env_kwargs), daemon=True, name="arcade-host"
        )
        self._process.start()
        _open.add(self)
        theirs.close()
        try:
            ready = self._receive()
        except HostError as exc:
            self.close()
            raise HostError(f"could not build {env_id}: {exc}") from exc
        assert isinstance(ready, Ready)
        self.action_meanings = ready.action_meanings
        height, width = ready.shape
        self._screens = Screens(height, width)
        self.frame = self._screens.pair[0]
        self.diff: np.ndarray | None = None
        self.changed: np.ndarray | None = None
        self.palette: Palette | None = Palette()
        self._new: list[int] = []

    @property
    def alive(self) -> bool:
        return not self._conn.closed and self._process.is_alive()

    def _receive(self, timeout: float | None = None) -> Reply:
        if not self._conn.poll(self._timeout if timeout is None else timeout):
            self.close()
            raise HostError("the hosted machine did not answer in time")
        try:
            reply: Reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise HostError("the hosted machine's process is gone") from exc
        if isinstance(reply, Failed):
            raise HostError(reply.error)
        return reply

    def _call(self, request: Request, timeout: float | None = None) -> Reply:
        with self._lock:
            if self._conn.closed:
                raise HostError("the hosted machine is closed")
            try:
                self._conn.send(request)
            except (BrokenPipeError, OSError) as exc:
                self.close()
                raise HostError("the hosted machine's process is gone") from exc
            return self._receive(timeout)

    def _show(self, shown: Shown, *, fresh: bool) -> list[int]:
        """Put the host's frame on this side; ``fresh``: a new episode (no frame before)."""
        previous = self.frame
        self.frame = self._screens.other(self.frame)
        self.frame.reshape(-1)[:] = np.frombuffer(shown.frame, np.uint8)
        assert self.palette is not None
        self.palette.add(shown.colours)
        self._new = [entry[0] for entry in shown.colours]
        if fresh:
            self.diff = self.changed = None
        else:
            self.diff, self.changed = self._screens.difference(self.frame, previous)
        return self._new

    def start(self, seed: int, state: bytes | None) -> list[int]:
        self.palette = Palette()  # as AtariMachine: each episode learns its palette afresh
        shown = self._call(Start(seed, state))
        assert isinstance(shown, Shown)
        return self._show(shown, fresh=True)

    def step(self, action: int) -> Outcome:
        # A step blocks the event loop for its round trip: a host that does not answer within
        # STEP_TIMEOUT is given up (its game ends as an error) rather than waited for.
        shown = self._call(Step(action), STEP_TIMEOUT)
        assert isinstance(shown, Shown) and shown.outcome is not None
        self._show(shown, fresh=False)
        return shown.outcome

    def new_colours(self) -> list[int]:
        return self._new

    def ram(self) -> np.ndarray:
        memory = self._call(Peek(), STEP_TIMEOUT)
        assert isinstance(memory, Memory)
        return np.frombuffer(memory.ram, np.uint8)

    def freeze(self) -> bytes:
        frozen = self._call(Freeze())
        assert isinstance(frozen, Frozen)
        return frozen.frozen

    def thaw(self, frozen: bytes) -> None:
        shown = self._call(Thaw(frozen))
        assert isinstance(shown, Shown)
        self.palette = shown.palette
        self._show(shown, fresh=True)

    def close(self) -> None:
        # The child exits when its pipe closes; the fork server, its parent, reaps it.
        self._conn.close()
