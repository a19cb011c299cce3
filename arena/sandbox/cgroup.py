"""A control group per sandbox: a cap on its processes and on the memory it really uses.

Rlimits are per process (memory) or per user (processes); a cgroup caps the sandbox as a whole,
tmpfs pages included, and lets the runner kill all of it at once. cgroup v2 is used where the
process may create a child of its own cgroup with the ``pids`` and ``memory`` controllers
(GKE's nodes, a systemd delegation); else the v1 ``pids`` and ``memory`` hierarchies (this
container has those writable and v2 without controllers); else none, and ``unavailable()``
says why, so the bench and the logs show that the rlimits and the user id alone hold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
import uuid
from pathlib import Path

from .limits import Limits


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, super options) of each cgroup filesystem."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        _, _, after = line.partition(" - ")
        fields, parts = line.split(), after.split()
        if len(parts) >= 3 and parts[0] in ("cgroup", "cgroup2"):
            found.append((fields[4], parts[0], set(parts[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy: controller (or "" for v2) → path."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _v2_parent() -> Path | None:
    path = _own_paths().get("")
    mount = next((point for point, kind, _ in _mounts() if kind == "cgroup2"), None)
    if path is None or mount is None:
        return None
    parent = Path(mount + path)
    try:
        available = set((parent / "cgroup.controllers").read_text().split())
        if not {"pids", "memory"} <= available or not os.access(parent, os.W_OK):
            return None
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"pids", "memory"} <= enabled:
            # Refused (EBUSY) when this cgroup holds processes itself: v2 allows controllers
            # only on cgroups whose processes live in their leaves.
            (parent / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError:
        return None
    return parent


def _v1_parents() -> list[Path] | None:
    own = _own_paths()
    parents = []
    for controller in ("pids", "memory"):
        mount = next(
            (point for point, kind, opts in _mounts() if kind == "cgroup" and controller in opts),
            None,
        )
        if mount is None or controller not in own:
            return None
        parent = Path(mount + own[controller])
        if not os.access(parent, os.W_OK):
            return None
        parents.append(parent)
    return parents


@dataclasses.dataclass
class Cgroup:
    version: int
    directories: list[Path]  # v2: one; v1: the pids one, then the memory one

    @property
    def procs_files(self) -> list[str]:
        """Where the sandbox's first process writes "0" to move itself in, before exec."""
        return [str(directory / "cgroup.procs") for directory in self.directories]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for its memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError):
            for line in (self.directories[-1] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def close(self) -> None:
        """Kill whatever is left in it and remove it (retried: exits are asynchronous)."""
        for directory in self.directories:
            kill = directory / "cgroup.kill"
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
                continue
            with contextlib.suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        for directory in self.directories:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left for the next start's sweep, never a crash of the match
                    time.sleep(0.01)


def describe() -> str:
    """Which cgroups sandboxes get here, in words for the logs and the bench."""
    if _v2_parent() is not None:
        return "cgroup v2 (pids.max, memory.max)"
    if _v1_parents() is not None:
        return "cgroup v1 (pids.max, memory.limit_in_bytes)"
    return f"none: {unavailable()}"


def unavailable() -> str | None:
    """None when sandboxes get a cgroup here; else why not, in words for the logs."""
    if _v2_parent() is not None or _v1_parents() is not None:
        return None
    return (
        "no writable cgroup with the pids and memory controllers (neither a v2 child of this "
        "process's cgroup nor the v1 hierarchies): sandboxes are held by their rlimits (and a "
        "uid of their own where the runner is root) only"
    )


PREFIX = "arena-sandbox-"
# A sandbox's cgroup holds its processes a few milliseconds after it is made: an empty one this
# old was left by a worker that died (SIGKILL) before removing it.
STALE_SECONDS = 300.0
_swept = False


def sweep(*, older_than: float = STALE_SECONDS) -> int:
    """Remove the sandboxes' empty cgroups older than OLDER_THAN seconds; how many went."""
    parents = [p for p in [_v2_parent()] if p is not None] or _v1_parents() or []
    removed = 0
    for parent in parents:
        for directory in parent.glob(PREFIX + "*"):
            try:
                empty = not (directory / "cgroup.procs").read_text().strip()
                if empty and time.time() - directory.stat().st_mtime >= older_than:
                    directory.rmdir()
                    removed += 1
            except OSError:
                continue  # in use, or removed by another worker meanwhile
    return removed


def create(limits: Limits) -> Cgroup | None:
    """A new cgroup with the limits' caps, or None where the machine allows none."""
    global _swept
    if not _swept:  # once a process: what a killed predecessor left
        _swept = True
        sweep()
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    parent = _v2_parent()
    if parent is not None:
        directory = parent / name
        directory.mkdir()
        (directory / "pids.max").write_text(str(limits.processes))
        (directory / "memory.max").write_text(str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            (directory / "memory.swap.max").write_text("0")
        return Cgroup(2, [directory])
    parents = _v1_parents()
    if parents is None:
        return None
    pids, memory = (parent / name for parent in parents)
    pids.mkdir()
    memory.mkdir()
    (pids / "pids.max").write_text(str(limits.processes))
    (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
    return Cgroup(1, [pids, memory])
