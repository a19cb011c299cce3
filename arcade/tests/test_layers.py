"""The channel layer keeps serving a process's channels after a receive was cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer as LibraryLayer
from django.conf import settings

from arcade.layers import RedisChannelLayer


async def cancel_a_receive_waiting_for_the_clean_lock(layer: Any) -> None:
    """Two sockets of one process; a message for one; the other closes while it waits."""
    a, b = await layer.new_channel(), await layer.new_channel()
    first = asyncio.ensure_future(layer.receive(a))
    second = asyncio.ensure_future(layer.receive(b))
    await asyncio.sleep(0.1)  # both wait: one in Redis, one for the receive lock
    await layer.send(a, {"type": "notice"})
    # The pop's clean-up holds the key's clean lock; the other receive queues for it.
    for _ in range(10_000):
        if any(n >= 2 for n in layer.receive_clean_locks.wait_counts.values()):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("the second receive never waited for the clean lock")
    waiting = second if not second.done() else first
    waiting.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    await layer.wait_received()


async def two_sockets_receive(layer: Any) -> list[Any]:
    c, d = await layer.new_channel(), await layer.new_channel()
    await layer.send(c, {"type": "one"})
    await layer.send(d, {"type": "two"})
    return list(
        await asyncio.wait_for(
            asyncio.gather(layer.receive(c), layer.receive(d), return_exceptions=True), 10
        )
    )


def test_it_forgets_a_receive_cancelled_while_it_waited() -> None:
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
    asyncio.run(cancel_a_receive_waiting_for_the_clean_lock(layer))

    assert layer.receive_clean_locks.wait_counts == {}
    # The next event loop (the next test, here) receives as if nothing happened.
    assert asyncio.run(two_sockets_receive(layer)) == [{"type": "one"}, {"type": "two"}]


def test_it_replaces_a_library_lock_that_outlives_its_event_loop() -> None:
    # The bug this layer fixes; when channels_redis fixes it, this test says so.
    layer = LibraryLayer(hosts=[settings.REDIS_URL])
    asyncio.run(cancel_a_receive_waiting_for_the_clean_lock(layer))

    assert sum(layer.receive_clean_locks.wait_counts.values()) == 1
    received = asyncio.run(two_sockets_receive(layer))
    assert any(
        isinstance(r, RuntimeError) and "different event loop" in str(r) for r in received
    ), received
