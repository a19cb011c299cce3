"""The bubblewrap command line of one sandbox: what exists inside, and nothing else.

Inside there is a read-only root built from nothing (not the host's /): the system's /usr and
its libraries, the Python interpreter, the arena's runtime (numpy, onnxruntime and the listed
packages) at /opt/arena/site-packages, this package at /opt/arena/lib, the submission at
/agent, a fresh /proc and /dev, and a private tmpfs at /tmp, the one writable place. No
project files, no home, no /etc beyond the dynamic loader's cache, no environment but what is
set here. Every namespace is new (no network but a loopback that is down, its own pids, IPC,
UTS and cgroup view), the session is new (no TIOCSTI into the parent's terminal), and the
sandbox dies with its parent.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .limits import Limits

PACKAGE = Path(__file__).resolve().parent  # arena/sandbox
ROOT = PACKAGE.parent.parent
INSIDE_UID = 1000  # the agent's uid inside its user namespace; outside it is the held one
AGENT_DIR = "/agent"
RUNTIME_DIR = "/opt/arena/site-packages"
CODE_DIR = "/opt/arena/lib"


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The interpreter and the read-only packages an agent runs with."""

    bwrap: str
    python: Path  # the base interpreter (a virtualenv's python is a link into a project)
    prefix: Path  # its installation: the standard library and libpython
    site_packages: Path

    @classmethod
    def default(cls) -> Runtime:
        """This interpreter, and the runtime ``make install`` built (ARCADE_ARENA_RUNTIME)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise RuntimeError(
                "bubblewrap is not installed: run `.ci/services.sh install` (or apt-get install "
                "bubblewrap); arena agents never run unsandboxed"
            )
        site = Path(os.environ.get("ARCADE_ARENA_RUNTIME") or ROOT / ".arena-runtime")
        if not (site / "numpy").is_dir():
            raise RuntimeError(
                f"the arena's runtime is missing at {site}: run `make install` (it installs "
                "arena/runtime.lock there) or set ARCADE_ARENA_RUNTIME"
            )
        if not reachable(site.resolve()):
            raise RuntimeError(
                f"the arena's runtime at {site} must be readable by all users (the sandbox runs "
                f"as a user of its own): chmod -R a+rX {site}"
            )
        python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
        prefix = Path(sysconfig.get_config_var("prefix") or sys.base_prefix).resolve()
        if not reachable(prefix):
            # bwrap resolves what it mounts as the sandbox's user, who cannot pass a home of
            # 0700 (pyenv's Python under /root): the system's Python of the same version then.
            version = f"python{sys.version_info.major}.{sys.version_info.minor}"
            python, prefix = Path("/usr/bin") / version, Path("/usr")
            if not python.exists():
                raise RuntimeError(
                    f"{sys.base_prefix} is not readable by other users and there is no "
                    f"{python}: install Python where others can read it (the sandbox runs "
                    "as a user of its own)"
                )
        return cls(bwrap=bwrap, python=python, prefix=prefix, site_packages=site.resolve())


def reachable(path: Path) -> bool:
    """Whether any user may pass through every folder down to PATH and read it."""
    return all(folder.stat().st_mode & 0o005 == 0o005 for folder in [path, *path.parents])


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    # Merged-/usr systems have /bin, /lib… as links into /usr; older ones have directories.
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # The loader finds multiarch libraries (libgomp, libstdc++) through its cache.
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def binds(runtime: Runtime, submission: Path) -> list[tuple[Path, str]]:
    """What the sandbox sees of the host beyond the system's libraries: (source, inside)."""
    found = []
    if not runtime.prefix.is_relative_to("/usr"):
        # pyenv's or /usr/local's Python: its own tree, at the same path (libpython's rpath).
        found.append((runtime.prefix, str(runtime.prefix)))
    return [
        *found,
        (runtime.site_packages, RUNTIME_DIR),
        # This package alone, not the project: the runner and the protocol it speaks.
        (PACKAGE.parent / "__init__.py", f"{CODE_DIR}/arena/__init__.py"),
        (PACKAGE, f"{CODE_DIR}/arena/sandbox"),
        (submission, AGENT_DIR),
    ]


def command(
    runtime: Runtime,
    limits: Limits,
    *,
    bound: list[tuple[int, str]],
    seccomp_fd: int,
    info_fd: int,
) -> list[str]:
    """The argv that runs ``arena.sandbox.runner`` on /agent inside a fresh sandbox.

    BOUND are ``binds()`` opened by the caller: bwrap mounts each from its descriptor, so the
    sandbox's user needs no right on the host's paths (a home of 0700, a private temp dir).
    """
    args = [runtime.bwrap, *_system_mounts()]
    for fd, inside in bound:
        args += ["--ro-bind-fd", str(fd), inside]
    args += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
        "--remount-ro", "/",
        # bwrap's /dev is a tmpfs of its own (with /dev/shm in it): read-only too, so /tmp is the
        # one writable place, under its size. Writing to /dev/null stays possible.
        "--remount-ro", "/dev",
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
        "--hostname", "arena",
        "--die-with-parent",
        # The runner is the pid namespace's first process, not a child of bwrap's own init,
        # whose bwrap exits without reaping it (a zombie of the sandbox's uid for the machine's
        # init to reap, counted meanwhile against the next sandbox's process limit). When the
        # runner ends, the kernel ends and reaps all that it started.
        "--as-pid-1",
        "--new-session",
        "--clearenv",
        "--setenv", "PYTHONPATH", f"{CODE_DIR}:{RUNTIME_DIR}",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--setenv", "PYTHONUNBUFFERED", "1",
        "--setenv", "HOME", "/tmp",
        "--setenv", "PATH", "/usr/bin:/bin",
        "--setenv", "LANG", "C.UTF-8",
        # One thread per math library: threads count against the process limit, and an agent
        # shares its core with the other seat.
        "--setenv", "OMP_NUM_THREADS", "1",
        "--setenv", "OPENBLAS_NUM_THREADS", "1",
        "--setenv", "MKL_NUM_THREADS", "1",
        "--chdir", "/tmp",
        "--seccomp", str(seccomp_fd),
        "--info-fd", str(info_fd),
        str(runtime.python), "-s", "-B", "-m", "arena.sandbox.runner", AGENT_DIR,
    ]  # fmt: skip
    return args


def unavailable(probe_uid: int | None) -> str | None:
    """None when bwrap can make a sandbox here (as PROBE_UID, if given); else why not.

    The least sandbox, not ours: a machine that refuses user namespaces (a container under
    Docker's default seccomp profile, Ubuntu's AppArmor restriction) is told apart from a
    mistake in the command line above.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return (
            "bubblewrap is not installed (.ci/services.sh install, or apt-get install bubblewrap)"
        )

    def drop() -> None:
        if probe_uid is not None:
            os.setgroups([])
            os.setresgid(probe_uid, probe_uid, probe_uid)
            os.setresuid(probe_uid, probe_uid, probe_uid)

    # --as-pid-1, as above: no init of bwrap's left for the machine's init to reap.
    argv = [bwrap, *_system_mounts(), "--unshare-all", "--unshare-user", "--as-pid-1"]
    done = subprocess.run(
        [*argv, "--", "/bin/true"],
        capture_output=True,
        text=True,
        env={},
        preexec_fn=drop,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return f"bwrap cannot make a sandbox on this machine: {done.stderr.strip()[-500:]}"
    return None
