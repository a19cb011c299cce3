"""A host user id per running sandbox, so its process limit is its own.

RLIMIT_NPROC counts every process of a user (recently exited ones too, until reaped), so
sandboxes sharing a uid would share one budget: one agent's fork bomb would starve the next.
When the runner is root (the worker's container; this machine), each sandbox drops to a uid of
its own from a range no account uses, held by a lock file for as long as it runs, across all the
worker's processes. A runner that is not root cannot switch users: its sandboxes keep its uid,
and the cgroup's pids.max is what separates them (``processes_of`` lets the rlimit add a
sandbox's allowance to what the worker's user runs).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Far above any account's uid and below the 2^31 that some tools misread as negative.
FIRST_UID = 1_500_000
SLOTS = 512
LOCKS = Path(tempfile.gettempdir()) / "arena-sandbox-uids"


@contextlib.contextmanager
def held() -> Iterator[int | None]:
    """A free uid, held until the block ends; None when this process cannot change users."""
    if os.geteuid() != 0:
        yield None
        return
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    # Start from a place that differs by process, so concurrent workers rarely collide.
    start = os.getpid() % SLOTS
    for offset in range(SLOTS):
        slot = (start + offset) % SLOTS
        fd = os.open(LOCKS / str(slot), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield FIRST_UID + slot
        finally:
            os.close(fd)  # closing the descriptor releases the lock
        return
    raise RuntimeError(f"all {SLOTS} sandbox user ids are in use")


def processes() -> Iterator[tuple[int, int, int]]:
    """Every process of this machine now: its pid, real uid and count of threads."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        yield int(entry.name), int(fields["Uid"].split()[0]), int(fields.get("Threads", "1"))


def processes_of(uid: int) -> int:
    """Processes and threads whose real uid is UID now (what RLIMIT_NPROC counts)."""
    return sum(threads for _, owner, threads in processes() if owner == uid)
