"""Makes the system call game_info["call"] names, one the seccomp filter denies."""

import ctypes
import os
import socket
from typing import Any

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PTRACE_TRACEME = 0


def checked(result: int) -> None:
    if result == -1:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


class Agent:
    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        self.call = game_info["call"]

    def act(self, observation: Any, action_mask: Any) -> int:
        if self.call == "unshare":
            checked(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET))
        elif self.call == "ptrace":
            checked(libc.ptrace(PTRACE_TRACEME, 0, None, None))
        elif self.call == "mount":
            checked(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
        elif self.call == "chroot":
            checked(libc.chroot(b"/tmp"))
        elif self.call == "netlink":
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        elif self.call == "inet6":
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        elif self.call == "unix":
            left, right = socket.socketpair()
            left.sendall(b"x")
            assert right.recv(1) == b"x"
        return 0
