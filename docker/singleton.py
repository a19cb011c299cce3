"""Run a command only while holding a lock in Redis, so that one copy runs at a time.

Celery beat must run exactly once: two would send every scheduled task twice. Deployments
try to run one (a pool of one instance, one compose replica), but a rollout starts the new
instance before the old one has stopped, and anyone can `--scale beat=2`. Every copy
therefore waits here for the lock, runs the command while it holds it, and renews it; a copy
that cannot renew it (Redis gone, lock taken over) stops its command at once.

    python docker/singleton.py LOCK_NAME -- COMMAND ARGS...

REDIS_URL names the Redis (as in settings.py). The lock lives LOCK_TTL seconds past the last
renewal, so a copy killed without releasing it delays the next one by that much at most.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from types import FrameType

import redis

LOCK_TTL = 30.0
RENEW_EVERY = 5.0
POLL_EVERY = 1.0

# Renew or release only a lock that is still ours.
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"  # noqa: E501
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"  # noqa: E501


def log(message: str) -> None:
    print(f"singleton: {message}", file=sys.stderr, flush=True)


def run(lock: str, command: list[str]) -> int:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6399/0"))
    key = f"arcade:singleton:{lock}"
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    ttl_ms = int(LOCK_TTL * 1000)
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    waiting_said = False
    while not stopping:
        try:
            if client.set(key, token, nx=True, px=ttl_ms):
                break
        except redis.RedisError as exc:
            log(f"Redis unavailable ({exc}); retrying")
        if not waiting_said:
            log(f"another copy holds {lock!r}; waiting for it to stop")
            waiting_said = True
        time.sleep(POLL_EVERY)
    if stopping:
        return 0

    log(f"holding {lock!r}; starting {command[0]}")
    child = subprocess.Popen(command)
    renewed = time.monotonic()
    try:
        while child.poll() is None:
            time.sleep(0.2)
            if stopping or time.monotonic() - renewed < RENEW_EVERY:
                continue
            try:
                still_ours = client.eval(RENEW, 1, key, token, ttl_ms) == 1
            except redis.RedisError as exc:
                still_ours = time.monotonic() - renewed < LOCK_TTL - RENEW_EVERY
                log(f"could not renew {lock!r} ({exc})")
            if still_ours:
                renewed = time.monotonic()
                continue
            # Another copy may start any moment now: ours must not run beside it.
            log(f"lost {lock!r}; stopping {command[0]}")
            child.terminate()
            child.wait()
            return 1
        return child.returncode if not stopping else 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            client.eval(RELEASE, 1, key, token)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 64
    return run(argv[0], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
