"""The sandbox's seccomp filter: compiled once with libseccomp, handed to bwrap as BPF.

An allow-by-default filter with a deny list, as Flatpak's and Docker's are: an agent needs the
ordinary system calls of CPython, numpy and onnxruntime (threads, mmap, futex, pipes), and the
calls listed here are the kernel's attack surface that no agent needs. A denied call fails
with EPERM (the agent sees a PermissionError and can be reported), rather than killing it:
the namespaces and the read-only mounts are the walls; this filter removes the ladders.

bwrap loads the filter after building the sandbox and just before it runs the agent, so its
own setup (mount, unshare, pivot_root) is not affected.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import tempfile

import pyseccomp as seccomp

DENIED = (
    # Debugging or reading another process.
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    # Filesystems and namespaces: the sandbox's mounts are fixed once bwrap has built them.
    "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "unshare", "setns",
    "open_by_handle_at", "name_to_handle_at", "quotactl", "quotactl_fd",
    # The kernel itself: modules, kexec, BPF, perf, keys, io_uring, userfaultfd.
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
    # The machine: clocks, swap, reboot, accounting, raw I/O ports, the kernel log.
    "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "iopl", "ioperm", "syslog", "vhangup", "lookup_dcookie", "personality",
)  # fmt: skip

# clone with any of these flags makes a namespace; plain fork and threads are allowed.
# (linux/sched.h; Python's os module names them only from 3.12 on.)
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x02000000,  # CLONE_NEWCGROUP
    0x00000080,  # CLONE_NEWTIME
)


def build() -> seccomp.SyscallFilter:
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED:
        rules.add_rule(deny, name)
    # Only Unix sockets (socketpair, multiprocessing's pipes): no IP, netlink, packet or
    # vsock socket even exists inside, whatever the network namespace would allow.
    rules.add_rule(deny, "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    # Rules on one call are alternatives: a clone asking for any namespace flag is denied.
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes glibc fall
    # back to clone, whose flags it can.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


@functools.cache
def program() -> bytes:
    """The filter as BPF, the form ``bwrap --seccomp FD`` reads."""
    with tempfile.TemporaryFile() as stream:
        build().export_bpf(stream)
        stream.seek(0)
        return stream.read()


def memfd() -> int:
    """A fresh file descriptor holding the program, at offset 0, for one bwrap to read."""
    fd = os.memfd_create("arena-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
