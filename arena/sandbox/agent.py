"""A submitted agent in its sandbox, seen from the match runner: reset, act, close, or a Failure.

One process per agent per match, or per duel with a reset before each match (a sandbox's start
costs about 0.1 s of CPU, the interpreter and numpy; a move's round trip over the pipes costs
tens of microseconds), never per move. Every limit that is not the kernel's is enforced here,
from outside: the wall clock of the start, of each move and of the match, the size and form of
each reply, and the legality of each action against the mask the runner itself sent. Whatever
goes wrong becomes one typed ``Failure`` (``AgentFailed`` carries it), the sandbox is killed
with all it started, and the caller ends the match as a loss for that agent with the reason.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import bwrap, cgroup, protocol, seccomp, uids
from .limits import Limits

FailureKind = Literal[
    "load",  # agent.py did not import, or has no agent class
    "crash",  # it raised, or its process ended without a reply
    "garbage",  # a reply that is not the protocol's
    "illegal_move",  # an action outside the mask it was given
    "timeout",  # the start, a move or the match took longer than its wall clock
    "memory",  # an allocation beyond its limits failed, or the kernel killed it for memory
    "cpu",  # it used up its CPU seconds
]
STDERR_TAIL_BYTES = 8192
# A flood of log is read this far, then no more: the agent's next write blocks on the full pipe
# and its move runs out of time, instead of the worker spending its CPU on reading it.
STDERR_READ_BYTES = 4 << 20


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why an agent's match ended early: a loss for it, with the reason recorded."""

    kind: FailureKind
    reason: str
    stderr_tail: str = ""


class SandboxUnavailable(RuntimeError):
    """bwrap could not build the sandbox: the machine's fault, never the agent's (a duel it
    interrupts is void and runs again, it is not scored)."""


class _Closed(Exception):
    """The sandbox's stdout ended."""


class _Late(Exception):
    """No line before the deadline."""


class AgentFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.kind}: {failure.reason}")
        self.failure = failure


def encode_observation(observation: np.ndarray) -> protocol.Observation:
    return {
        "dtype": observation.dtype.str,
        "shape": list(observation.shape),
        "data": base64.b64encode(np.ascontiguousarray(observation).data).decode(),
    }


class _StderrTail(threading.Thread):
    """Drains the sandbox's stderr (a full pipe would stall the agent) and keeps its end."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True, name="arena-sandbox-stderr")
        self.stream = stream
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.read = 0  # bytes read in all

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: self.stream.read1(4096), b""):
                self.read += len(chunk)
                if self.read > STDERR_READ_BYTES:
                    return
                self.chunks.append(chunk)
                self.size += len(chunk)
                while self.size - len(self.chunks[0]) >= STDERR_TAIL_BYTES:
                    self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        return b"".join(self.chunks)[-STDERR_TAIL_BYTES:].decode(errors="replace")


class SandboxedAgent:
    """One submission's agent for a match (or a duel's matches in turn), in a sandbox of its own.

    ``start()`` launches it; ``reset``, ``act`` and ``close`` speak to it. Any failure kills the
    sandbox and raises ``AgentFailed``; ``failure`` keeps it, and every later call raises it again.
    """

    def __init__(
        self,
        submission: Path,
        *,
        limits: Limits | None = None,
        runtime: bwrap.Runtime | None = None,
    ) -> None:
        self.submission = submission.resolve()
        self.limits = limits or Limits()
        self.runtime = runtime or bwrap.Runtime.default()
        self.failure: Failure | None = None
        self.cgroup: cgroup.Cgroup | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._uid: contextlib.ExitStack = contextlib.ExitStack()
        self._stderr: _StderrTail | None = None
        self._buffer = b""
        self._started = 0.0
        self._match_started = 0.0
        self._first_reply = True
        self._hello = False
        self._cpu_seconds: float | None = None
        self._inner_pid = 0
        self._info_fd = -1

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Launch the sandbox; the start's clock runs until its first reply (to ``reset``)."""
        if not (self.submission / "agent.py").is_file():
            raise self._fail("load", f"the submission has no agent.py ({self.submission.name})")
        if not bwrap.reachable(self.submission):
            # The sandbox's own user mounts it: unpack submissions where others may read.
            raise SandboxUnavailable(
                f"{self.submission} must be readable by all users (0755 folders)"
            )
        uid = self._uid.enter_context(uids.held())
        self.cgroup = cgroup.create(self.limits)
        procs_files = self.cgroup.procs_files if self.cgroup else []
        limits = self.limits
        # A uid of its own: the sandbox's processes alone count. Else the worker's user's count
        # too, so the sandbox may add its allowance to what that user runs now.
        processes = limits.processes + (0 if uid is not None else uids.processes_of(os.getuid()))

        def enter_limits() -> None:
            # In the child, between fork and exec: join the cgroup while still privileged,
            # take the limits, then drop to the sandbox's own uid.
            for path in procs_files:
                with open(path, "w") as procs:
                    procs.write("0")
            limits.apply(processes=processes)
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)

        fds = [seccomp.memfd()]
        info_read, info_write = os.pipe()
        fds.append(info_write)
        try:
            bound = []
            for source, inside in bwrap.binds(self.runtime, self.submission):
                # Opened here, with this process's rights; bwrap mounts the descriptors.
                fds.append(os.open(source, os.O_PATH | os.O_CLOEXEC))
                bound.append((fds[-1], inside))
            argv = bwrap.command(
                self.runtime, limits, bound=bound, seccomp_fd=fds[0], info_fd=info_write
            )
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},
                pass_fds=fds,
                preexec_fn=enter_limits,
                cwd="/",
            )
        except BaseException:
            os.close(info_read)
            self._cleanup()
            raise
        finally:
            for fd in fds:
                os.close(fd)
        # bwrap writes the pid of the sandbox's first process once it is built (EOF if it
        # failed first): the one to kill, so that the kernel ends and reaps all of its pids.
        self._info_fd = info_read  # read when first needed: the start does not wait for bwrap
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        self._stderr = _StderrTail(self.process.stderr)
        self._stderr.start()
        self._started = time.monotonic()

    def _inner(self, timeout: float) -> int:
        """The pid of the sandbox's first process (the runner), from bwrap's --info-fd JSON,
        which bwrap writes once it has cloned it; 0 if bwrap ended without, or not in time."""
        if self._info_fd < 0:
            return self._inner_pid
        data = b""
        deadline = time.monotonic() + timeout
        with os.fdopen(self._info_fd, "rb", buffering=0) as info:
            self._info_fd = -1
            while (remaining := deadline - time.monotonic()) > 0:
                if not select.select([info], [], [], remaining)[0]:
                    break
                chunk = info.read(4096)
                if not chunk:
                    break
                data += chunk
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            self._inner_pid = int(json.loads(data).get("child-pid", 0))
        return self._inner_pid

    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        """Start a match in SEAT: its clock starts now (a sandbox may play several in turn)."""
        self._match_started = time.monotonic()
        self._call({"type": "reset", "seat": seat, "game_info": game_info}, "ready")

    def act(self, observation: np.ndarray, action_mask: Sequence[int] | np.ndarray) -> int:
        """The agent's action for this observation: legal under the mask, or AgentFailed."""
        mask = (
            action_mask.astype(np.int64).tolist()
            if isinstance(action_mask, np.ndarray)
            else [int(value) for value in action_mask]
        )
        request: protocol.ActRequest = {
            "type": "act",
            "observation": encode_observation(np.asarray(observation)),
            "action_mask": mask,
        }
        action = self._call(request, "action")["action"]
        if not isinstance(action, int) or not 0 <= action < len(mask) or not mask[action]:
            raise self._fail("illegal_move", f"action {action!r} is not allowed by the mask")
        return action

    def close(self) -> None:
        """Ask the agent to close (its close() runs), then end the sandbox whatever it did."""
        if self.failure is None and self.process is not None and self.process.returncode is None:
            # Best effort: a close that fails or is late ends in the kill below all the same.
            with contextlib.suppress(AgentFailed, SandboxUnavailable):
                self._call({"type": "close"}, "closed", seconds=self.limits.move_seconds)
                self._reap(timeout=1.0)  # the runner exits at once after replying
        self._cleanup()

    def __enter__(self) -> SandboxedAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stderr_tail(self) -> str:
        return self._stderr.text() if self._stderr else ""

    @property
    def stderr_bytes_read(self) -> int:
        return self._stderr.read if self._stderr else 0

    # --- one request, one reply --------------------------------------------------------------

    def _call(
        self, request: protocol.Request, expected: str, seconds: float | None = None
    ) -> dict[str, Any]:
        if self.failure is not None:
            raise AgentFailed(self.failure)
        if self.process is None:
            raise RuntimeError("start() the agent before speaking to it")
        assert self.process.stdin is not None
        if not self._hello:
            self._await_hello()
        now = time.monotonic()
        match_end = (self._match_started or self._started) + self.limits.match_seconds
        if self._first_reply:
            limit, what = self.limits.start_seconds, "to start"
            deadline = self._started + limit
        else:
            limit, what = (seconds or self.limits.move_seconds), "for a move"
            deadline = now + limit
        if match_end < deadline:
            limit, what, deadline = self.limits.match_seconds, "for the match", match_end
        try:
            self.process.stdin.write(protocol.encode(request))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._ended() from None
        try:
            line = self._read_line(deadline)
        except _Closed:
            raise self._ended() from None
        except _Late:
            raise self._fail("timeout", f"took longer than {limit:g} s {what}") from None
        self._first_reply = False
        try:
            reply = protocol.decode(line)
        except ValueError:
            raise self._fail("garbage", f"replied {line[:80]!r}, not a protocol message") from None
        if reply["type"] == "error":
            kind = reply.get("kind")
            message = str(reply.get("message", ""))
            raise self._fail(kind if kind in ("crash", "memory", "load") else "crash", message)
        if reply["type"] != expected:
            raise self._fail("garbage", f"replied {reply['type']!r} to {request['type']!r}")
        return reply

    def _await_hello(self) -> None:
        """The runner's first line, sent once its runtime imports and before the agent loads.

        Anything else before it (bwrap's error, a missing interpreter or numpy, a start past its
        clock on a starved machine) is the machine's fault, not the agent's: SandboxUnavailable,
        never a loss.
        """
        try:
            line = self._read_line(self._started + self.limits.start_seconds)
        except (_Closed, _Late) as error:
            self._cleanup()
            said = self.stderr_tail[-2000:]
            what = "ended" if isinstance(error, _Closed) else "did not answer in time"
            message = f"the sandbox {what} before its runner started: {said}"
            raise SandboxUnavailable(message) from None
        if line != protocol.HELLO.rstrip(b"\n"):
            self._cleanup()
            raise SandboxUnavailable(f"the runner's first line was {line[:80]!r}, not its hello")
        self._hello = True

    def _read_line(self, deadline: float) -> bytes:
        """One line from the sandbox's stdout; _Closed at its end, _Late past DEADLINE."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
                return line
            if len(self._buffer) > protocol.MAX_LINE_BYTES:
                raise self._fail("garbage", f"wrote over {protocol.MAX_LINE_BYTES} bytes unasked")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Late()
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise _Closed()
            self._buffer += chunk

    # --- endings -----------------------------------------------------------------------------

    def _ended(self) -> AgentFailed:
        """The sandbox closed its side: why, from its exit status and the cgroup's records."""
        status = self._reap(timeout=2.0)
        if status is None:
            return self._fail("crash", "closed its output without exiting")
        # bwrap exits with the agent's status, or 128 + the signal that killed it.
        signum = status - 128 if status > 128 else -status if status < 0 else 0
        cpu = self._cpu_seconds or 0.0
        if signum in (signal.SIGXCPU, signal.SIGKILL) and cpu >= self.limits.cpu_seconds - 0.1:
            return self._fail("cpu", f"used up its {self.limits.cpu_seconds} s of CPU time")
        if self.cgroup is not None and self.cgroup.oom_killed():
            return self._fail("memory", f"killed over {self.limits.memory_bytes >> 20} MiB")
        if signum:
            return self._fail("crash", f"killed by {signal.Signals(signum).name}")
        return self._fail("crash", f"exited with status {status} before replying")

    def _reap(self, timeout: float | None) -> int | None:
        """Wait for bwrap to exit (None: still running at the timeout); its exit code.

        wait4, not Popen.wait: bwrap waits for the agent, so its rusage adds up the CPU of both.
        """
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                self._cpu_seconds = usage.ru_utime + usage.ru_stime
                return process.returncode
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def _fail(self, kind: FailureKind, reason: str) -> AgentFailed:
        self._cleanup()
        self.failure = Failure(kind=kind, reason=reason, stderr_tail=self.stderr_tail)
        return AgentFailed(self.failure)

    def _cleanup(self) -> None:
        """Kill the sandbox and all it started, release its uid and its cgroup; idempotent.

        The sandbox's first process (the runner, pid 1 inside) is killed, not bwrap: the kernel
        then kills and reaps every process of its pid namespace, bwrap reaps the runner, and
        this reaps bwrap, so no zombie of the sandbox's uid is left to count against the next
        one's process limit. bwrap itself is killed only if it outlives that.
        """
        process = self.process
        if process is not None and process.returncode is None:
            if inner := self._inner(timeout=1.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(inner, signal.SIGKILL)
            if self._reap(timeout=2.0) is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGKILL)
                self._reap(timeout=None)
        if self._info_fd >= 0:
            os.close(self._info_fd)
            self._info_fd = -1
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None
        for stream in (process.stdin, process.stdout) if process else ():
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._stderr is not None:
            self._stderr.join(timeout=1.0)
        self._uid.close()
