"""What one sandboxed agent may use: kernel resource limits, and the runner's clocks."""

from __future__ import annotations

import dataclasses
import resource

MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Limits:
    """One agent's allowance for one match.

    The kernel enforces the first group on the sandbox's processes (``setrlimit`` before bwrap
    runs, inherited by everything inside); the runner enforces the clocks from outside.
    """

    # CPU seconds over the sandbox's life, a match or the matches of a duel it plays in turn
    # (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second on).
    cpu_seconds: int = 60
    # Address space (RLIMIT_AS) of each process: numpy and onnxruntime reserve more than they
    # touch, so this is larger than the cgroup's memory limit on what is really used.
    address_space_bytes: int = 2048 * MIB
    # The cgroup's limit on memory really used, /tmp's tmpfs included (where one exists).
    memory_bytes: int = 512 * MIB
    # Processes and threads of the sandbox's user (RLIMIT_NPROC, and the cgroup's pids.max):
    # onnxruntime's and OpenBLAS's threads count here too.
    processes: int = 32
    file_bytes: int = 16 * MIB  # the largest file it may write (RLIMIT_FSIZE)
    open_files: int = 64  # RLIMIT_NOFILE
    tmp_bytes: int = 64 * MIB  # the size of its private /tmp
    # Wall clock: from start to the first reply (the interpreter, numpy, the agent's import),
    # for each move, and for each match (from its reset on).
    start_seconds: float = 10.0
    move_seconds: float = 1.0
    match_seconds: float = 120.0

    def apply(self, *, processes: int) -> None:
        """Set the kernel's limits on the calling process (a child about to exec bwrap).

        PROCESSES is RLIMIT_NPROC, which counts every process of the user: ``self.processes``
        for a sandbox with a uid of its own, more when it shares the worker's.
        """
        cpu = self.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (self.address_space_bytes,) * 2)
        resource.setrlimit(resource.RLIMIT_DATA, (self.address_space_bytes,) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
