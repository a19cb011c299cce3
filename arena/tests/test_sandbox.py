"""The sandbox's containments, one test each, with real bubblewrap and real processes.

Each hostile agent under arena/tests/agents tries one thing; the test checks that it ends as a
typed Failure with the reason, and (the autouse fixture) that this process, the worker in
production, is healthy afterwards: it can still start processes, and nothing of the sandbox
is left (no process of a sandbox's uid, no cgroup, no reader thread).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arena.sandbox import cgroup, uids
from arena.sandbox.agent import (
    STDERR_READ_BYTES,
    AgentFailed,
    Failure,
    SandboxedAgent,
    SandboxUnavailable,
)
from arena.sandbox.bwrap import Runtime
from arena.sandbox.limits import Limits

pytestmark = pytest.mark.sandbox

AGENTS = Path(__file__).resolve().parent / "agents"
ROOT = AGENTS.parents[2]
BOARD = np.zeros((3, 3, 2), dtype=np.int8)
MASK = [1, 1, 0, 1, 0, 1, 1, 1, 1]
# Generous starts: this machine's two cores are shared with other runs.
LIMITS = Limits(start_seconds=30.0, move_seconds=5.0)


def sandbox_processes() -> list[int]:
    """Pids of this machine whose real uid is a sandbox's."""
    return [
        pid
        for pid, uid, _ in uids.processes()
        if uids.FIRST_UID <= uid < uids.FIRST_UID + uids.SLOTS
    ]


def sandbox_cgroups() -> list[Path]:
    return [
        path
        for root in (Path("/sys/fs/cgroup"),)
        if root.exists()
        for path in root.rglob("arena-sandbox-*")
        if path.is_dir()
    ]


@pytest.fixture(autouse=True)
def worker_stays_healthy() -> Iterator[None]:
    before = set(sandbox_cgroups())
    yield
    assert subprocess.run(["true"], check=False).returncode == 0
    assert sandbox_processes() == []
    assert set(sandbox_cgroups()) <= before
    # Each sandbox's stderr reader ended with it.
    assert [t.name for t in threading.enumerate() if t.name == "arena-sandbox-stderr"] == []


def play(name: str, game_info: dict[str, object], limits: Limits = LIMITS, moves: int = 1) -> int:
    """Start the agent NAME, reset it and ask it for MOVES moves; its last action."""
    with SandboxedAgent(AGENTS / name, limits=limits) as agent:
        agent.reset(0, game_info)
        action = -1
        for _ in range(moves):
            action = agent.act(BOARD, MASK)
        return action


def failure_of(name: str, game_info: dict[str, object], limits: Limits = LIMITS) -> Failure:
    with pytest.raises(AgentFailed) as raised:
        play(name, game_info, limits, moves=3)
    return raised.value.failure


def test_it_plays_a_random_legal_agent() -> None:
    with SandboxedAgent(AGENTS / "random", limits=LIMITS) as agent:
        agent.reset(1, {"seed": 7})
        actions = {agent.act(BOARD, MASK) for _ in range(50)}
    assert actions <= {i for i, allowed in enumerate(MASK) if allowed}
    assert len(actions) > 3
    assert agent.failure is None


def test_it_refuses_an_illegal_move() -> None:
    failure = failure_of("illegal", {})
    assert failure.kind == "illegal_move"
    assert "action 2 is not allowed" in failure.reason


def test_it_reports_a_crash_with_the_traceback() -> None:
    failure = failure_of("crash", {})
    assert failure.kind == "crash"
    assert failure.reason == "ValueError: boom: the agent's own bug"
    assert 'in act\n    raise ValueError("boom' in failure.stderr_tail


def test_it_reports_a_submission_that_does_not_load() -> None:
    failure = failure_of("broken", {})
    assert failure.kind == "load"
    assert "No module named 'not_a_package_the_runtime_has'" in failure.reason


def test_it_reports_garbage_on_the_channel() -> None:
    failure = failure_of("garbage", {})
    assert failure.kind == "garbage"
    assert "I am not JSON" in failure.reason


def test_it_ends_a_move_at_its_wall_clock() -> None:
    failure = failure_of("sleeper", {"sleep": 60}, Limits(start_seconds=30, move_seconds=0.5))
    assert failure.kind == "timeout"
    assert failure.reason == "took longer than 0.5 s for a move"


def test_it_ends_the_match_at_its_wall_clock() -> None:
    limits = Limits(start_seconds=30, move_seconds=2, match_seconds=3)
    # The start may take most of a loaded machine's 3 s; the clock still ends the match.
    with pytest.raises(AgentFailed) as raised:
        play("sleeper", {"sleep": 0.4}, limits, moves=20)
    assert raised.value.failure.kind == "timeout"
    assert raised.value.failure.reason == "took longer than 3 s for the match"


def test_it_stops_an_agent_at_its_cpu_time() -> None:
    limits = Limits(start_seconds=30, move_seconds=30, cpu_seconds=2)
    failure = failure_of("spinner", {}, limits)
    assert failure.kind == "cpu"
    assert failure.reason == "used up its 2 s of CPU time"


def test_it_refuses_memory_beyond_the_address_space() -> None:
    failure = failure_of("hog", {"mib": 8192})
    assert failure.kind == "memory"
    assert "MemoryError" in failure.reason


@pytest.mark.skipif(cgroup.unavailable() is not None, reason="no cgroup on this machine")
def test_it_kills_an_agent_over_its_cgroups_memory() -> None:
    # Below the address-space limit, above the cgroup's: only the cgroup can stop it.
    limits = Limits(start_seconds=30, move_seconds=30, memory_bytes=256 << 20)
    failure = failure_of("hog", {"mib": 1024, "touch": True}, limits)
    assert failure.kind == "memory"
    assert failure.reason == "killed over 256 MiB"


def test_it_contains_a_fork_bomb() -> None:
    failure = failure_of("forkbomb", {})
    assert failure.kind == "crash"
    assert "BlockingIOError" in failure.reason  # fork's EAGAIN: the process limit held
    # The fixture checks that none of the children outlived the sandbox.


def test_it_gives_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        failure = failure_of("network", {"port": port})
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert failure.kind == "crash"
    assert failure.reason.startswith("PermissionError")  # the seccomp filter's EPERM


@pytest.mark.parametrize(
    ("op", "path", "error"),
    [
        ("read", str(ROOT / "arcade" / "settings.py"), "FileNotFoundError"),
        ("list", str(ROOT), "FileNotFoundError"),
        ("list", "/root", "FileNotFoundError"),
        ("read", "/etc/passwd", "FileNotFoundError"),
        ("write", "/usr/escaped", "OSError: [Errno 30] Read-only file system"),
        ("write", "/escaped", "OSError: [Errno 30] Read-only file system"),
        ("write", "/agent/escaped", "OSError: [Errno 30] Read-only file system"),
        ("write", "/dev/escaped", "OSError: [Errno 30] Read-only file system"),
        ("write", "/dev/shm/escaped", "OSError: [Errno 30] Read-only file system"),
        ("write", "/opt/arena/site-packages/numpy/escaped", "OSError: [Errno 30] Read-only"),
    ],
)
def test_it_hides_the_project_and_keeps_the_root_read_only(op: str, path: str, error: str) -> None:
    failure = failure_of("files", {"op": op, "path": path})
    assert failure.kind == "crash"
    assert failure.reason.startswith(error)
    assert not (ROOT / "arena" / "tests" / "agents" / "files" / "escaped").exists()


def test_it_passes_the_agent_no_descriptor_but_its_pipes() -> None:
    # bwrap was given the seccomp program, its info pipe and the mounts' directories as
    # descriptors: none of them may reach the agent.
    assert play("descriptors", {}) == 0


def test_it_lets_an_agent_write_its_own_tmp() -> None:
    assert play("files", {"op": "write", "path": "/tmp/notes"}) == 0
    assert play("files", {"op": "write", "path": "/dev/null"}) == 0
    assert play("files", {"op": "fill", "path": "/tmp/notes", "mib": 8}) == 0


def test_it_caps_the_files_an_agent_writes() -> None:
    # RLIMIT_FSIZE (16 MiB) before the tmpfs's size (64 MiB): EFBIG, which the agent may catch.
    failure = failure_of("files", {"op": "fill", "path": "/tmp/big", "mib": 32})
    assert failure.kind == "crash"
    assert failure.reason.startswith("OSError: [Errno 27] File too large")


def test_it_passes_none_of_the_parents_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://arcade:pw@db/arcade")
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL"):
        failure = failure_of("secrets", {"names": [name]})
        assert failure.kind == "crash"
        assert failure.reason == f"KeyError: '{name}'"
        assert "s3cret" not in failure.stderr_tail and "pw@db" not in failure.stderr_tail


def test_an_agent_cannot_reach_another() -> None:
    # Both run at once, each with its own /tmp, pids and uid: neither sees the other's mark.
    errors: list[BaseException] = []

    def run(seat: int) -> None:
        try:
            with SandboxedAgent(AGENTS / "neighbour", limits=LIMITS) as agent:
                agent.reset(seat, {})
                barrier.wait(timeout=60)  # both have written their marks
                agent.act(BOARD, MASK)
                barrier.wait(timeout=60)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=run, args=(seat,)) for seat in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


def test_each_sandbox_runs_as_a_user_of_its_own() -> None:
    if os.geteuid() != 0:
        pytest.skip("only a root runner switches users")
    with uids.held() as first, uids.held() as second:
        assert first is not None and second is not None and first != second


@pytest.mark.parametrize("call", ["unshare", "ptrace", "mount", "chroot", "netlink", "inet6"])
def test_it_denies_the_kernels_attack_surface(call: str) -> None:
    failure = failure_of("syscalls", {"call": call})
    assert failure.kind == "crash"
    assert failure.reason.startswith("PermissionError: [Errno 1] Operation not permitted")


def test_it_lets_an_agent_use_unix_sockets() -> None:
    # multiprocessing's pipes and socketpair stay usable: the filter is not a blanket ban.
    assert play("syscalls", {"call": "unix"}) == 0


@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.uint8])
def test_it_sends_the_observation_intact(dtype: type) -> None:
    observation: np.ndarray = np.zeros((2, 3, 4), dtype=dtype)
    with SandboxedAgent(AGENTS / "argmax", limits=LIMITS) as agent:
        agent.reset(0, {"shape": [2, 3, 4]})
        for index in (0, 7, 23):
            observation.flat[index] = 3
            assert agent.act(observation, np.ones(24, dtype=np.int8)) == index
            observation.flat[index] = 0


def test_a_sandbox_that_cannot_be_built_is_not_the_agents_failure(tmp_path: Path) -> None:
    # bwrap fails before the agent exists (here: a runtime folder inside pytest's 0700 temp
    # folder, which the sandbox's own user cannot pass): the machine's fault, raised as
    # SandboxUnavailable, never scored as the agent's loss.
    if os.geteuid() != 0:
        pytest.skip("only a root runner switches to a user who cannot read the folder")
    locked = tmp_path / "locked"
    (locked / "runtime").mkdir(parents=True)
    locked.chmod(0o700)
    runtime = dataclasses.replace(Runtime.default(), site_packages=locked / "runtime")
    agent = SandboxedAgent(AGENTS / "random", limits=LIMITS, runtime=runtime)
    try:
        agent.start()
        with pytest.raises(SandboxUnavailable, match="before its runner started: bwrap: Can't"):
            agent.reset(0, {})
    finally:
        agent.close()
    assert agent.failure is None


def test_it_counts_a_users_processes_and_threads() -> None:
    own = uids.processes_of(os.getuid())
    assert own >= 1 + threading.active_count() - 1
    assert uids.processes_of(uids.FIRST_UID + uids.SLOTS - 1) == 0


def test_it_stops_reading_a_flood_of_log() -> None:
    # Past 4 MiB the worker reads no more: the agent blocks on the full pipe and runs out of time.
    with SandboxedAgent(
        AGENTS / "chatty", limits=Limits(start_seconds=30, move_seconds=2)
    ) as agent:
        agent.reset(0, {})
        with pytest.raises(AgentFailed) as raised:
            agent.act(BOARD, MASK)
    assert raised.value.failure.kind == "timeout"
    assert STDERR_READ_BYTES < agent.stderr_bytes_read <= STDERR_READ_BYTES + 4096
    # Its last 8 KiB as read, which may end mid-line where the reading stopped.
    tail = raised.value.failure.stderr_tail
    assert len(tail) == 8192 and "spam spam" in tail


NOT_ROOT = """
import sys
import numpy as np
from pathlib import Path
from arena.sandbox.agent import AgentFailed, SandboxedAgent
from arena.sandbox.limits import Limits

agents = Path(sys.argv[1])
with SandboxedAgent(agents / "random", limits=Limits(start_seconds=30)) as agent:
    agent.reset(0, {})
    print("played", agent.act(np.zeros(3, np.int8), [0, 1, 0]))
try:
    with SandboxedAgent(agents / "forkbomb", limits=Limits(start_seconds=30)) as agent:
        agent.reset(0, {})
        agent.act(np.zeros(3, np.int8), [0, 1, 0])
except AgentFailed as failed:
    print("forkbomb", failed.failure.kind, failed.failure.reason)
"""


def test_a_runner_that_is_not_root_still_holds_a_fork_bomb() -> None:
    # No uid of its own and (here) no cgroup it may write: RLIMIT_NPROC is then what the user
    # runs plus the sandbox's allowance. The system's Python: pyenv's is in root's 0700 home.
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or not python.exists() or runuser is None:
        pytest.skip("needs root and runuser to run the runner as nobody, and a system Python")
    site = Path(sysconfig.get_paths()["purelib"])
    done = subprocess.run(
        [runuser, "-u", "nobody", "--", str(python), "-c", NOT_ROOT, str(AGENTS)],
        env={
            "PYTHONPATH": f"{ROOT}:{site}",
            "ARCADE_ARENA_RUNTIME": str(Runtime.default().site_packages),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "played 1",
        "forkbomb crash BlockingIOError: [Errno 11] Resource temporarily unavailable",
    ]


@pytest.fixture
def onnx_submission() -> Iterator[Path]:
    """The onnx agent with its model.onnx (doubles its input), where the sandbox may read it."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["obs", "two"], ["scores"])],
        "double",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 7])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 7])],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = Path(tempfile.mkdtemp(prefix="arena-onnx-"))  # pytest's own are 0700
    try:
        folder.chmod(0o755)
        shutil.copy(AGENTS / "onnx" / "agent.py", folder / "agent.py")
        (folder / "model.onnx").write_bytes(model.SerializeToString())
        yield folder
    finally:
        shutil.rmtree(folder)


def test_it_runs_an_agents_own_onnx_model(onnx_submission: Path) -> None:
    with SandboxedAgent(onnx_submission, limits=LIMITS) as agent:
        agent.reset(0, {})
        board = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.int8)
        assert agent.act(board, np.ones(7, dtype=np.int8)) == 5
        assert agent.act(board, np.array([1, 1, 1, 1, 1, 0, 1], dtype=np.int8)) == 4


def test_a_submission_the_sandbox_cannot_read_is_the_machines_failure(tmp_path: Path) -> None:
    # pytest's temp folders are 0700: an unpacker that left a submission there made the mistake.
    shutil.copytree(AGENTS / "random", tmp_path / "random")
    agent = SandboxedAgent(tmp_path / "random", limits=LIMITS)
    with pytest.raises(SandboxUnavailable, match="must be readable by all users"):
        agent.start()
    assert agent.failure is None and agent.process is None


@pytest.mark.skipif(cgroup.unavailable() is not None, reason="no cgroup on this machine")
def test_it_sweeps_the_empty_cgroups_a_killed_worker_left() -> None:
    left = cgroup.create(LIMITS)  # made and never used, as by a worker killed at once
    assert left is not None
    cgroup.sweep(older_than=3600)
    assert all(d.exists() for d in left.directories)  # too young to be anyone's leftover
    assert cgroup.sweep(older_than=0) >= len(left.directories)
    assert not any(d.exists() for d in left.directories)


WORKER = """
import sys
import time
from pathlib import Path
from arena.sandbox.agent import SandboxedAgent
from arena.sandbox.limits import Limits

agent = SandboxedAgent(Path(sys.argv[1]), limits=Limits(start_seconds=30))
agent.start()
agent.reset(0, {"sleep": 3600})
print("playing", flush=True)
time.sleep(3600)
"""


def test_a_worker_killed_mid_match_takes_its_sandbox_with_it() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(AGENTS / "sleeper")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "playing\n"
        assert sandbox_processes() != []
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 5
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == []  # --die-with-parent: bwrap and the agent went with it
    # What it leaves is its sandbox's empty cgroup, for the next worker's sweep.
    if cgroup.unavailable() is None:
        assert cgroup.sweep(older_than=0) >= 1
