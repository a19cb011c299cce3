"""The channel layer: channels_redis's RedisChannelLayer, with one lock bug fixed.

Every process-local channel of a process ("specific.<process>!<socket>": the play sockets, the
parking listener, a hand-over's reply channel) is read from one Redis key, under one
``receive_clean_locks`` lock per key, which a receive holds from its pop until the pop's
clean-up has run. channels_redis 4.3.0 counts a waiter for that lock before it waits and does
not uncount it when the wait is cancelled (a socket that closes while another message is
being cleaned up). The count then never returns to zero, so the lock is never dropped as the
library means it to be: it stays bound to the event loop it was first waited on in, and the
next receive that has to wait for it on another loop raises "is bound to a different event
loop" (one web process runs one loop, but every test runs its own). This is what made the
hand-over tests fail after the notices' test (see docs/deploy.md, "Scaling").
"""

from __future__ import annotations

from typing import Any

from channels_redis import core


class _ChannelLock(core.ChannelLock):
    async def acquire(self, channel: str) -> bool:
        try:
            return bool(await super().acquire(channel))
        except BaseException:
            # A cancelled (or failed) wait never held the lock: undo its count, and drop the
            # lock when nobody else holds or waits for it, as release() does.
            self.wait_counts[channel] -= 1
            if self.wait_counts[channel] < 1:
                del self.locks[channel]
                del self.wait_counts[channel]
            raise


class RedisChannelLayer(core.RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_clean_locks = _ChannelLock()
