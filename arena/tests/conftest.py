"""The sandbox's tests need a machine where bubblewrap can make namespaces.

This project's machines and CI can (root, unprivileged user namespaces allowed); a container
under Docker's default seccomp profile, or a host with Ubuntu's AppArmor restriction on user
namespaces, cannot. There the tests that start a sandbox are skipped with bwrap's own reason,
told apart from a mistake of ours by probing the least sandbox, not ours.
"""

from __future__ import annotations

import functools
import os

import pytest

from arena.sandbox import bwrap, uids


@functools.cache
def sandbox_unavailable() -> str | None:
    return bwrap.unavailable(uids.FIRST_UID + uids.SLOTS - 1 if os.geteuid() == 0 else None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("sandbox") and (reason := sandbox_unavailable()):
            item.add_marker(pytest.mark.skip(reason=reason))
