"""The per-process chunk shipper: one hand-over for many sessions' chunks."""

from __future__ import annotations

import asyncio

from play.shipping import ChunkShipper, Item


async def test_it_hands_over_chunks_of_many_sessions_in_one_batch() -> None:
    batches: list[list[Item]] = []
    shipper = ChunkShipper(batches.append, interval=0.05)
    await asyncio.gather(*(shipper.ship(f"episode-{i}", 0, b"x") for i in range(20)))
    assert len(batches) == 1
    assert sorted(e for e, _, _ in batches[0]) == sorted(f"episode-{i}" for i in range(20))


async def test_it_keeps_each_sessions_chunks_in_order() -> None:
    batches: list[list[Item]] = []
    shipper = ChunkShipper(batches.append, interval=0.01)
    for index in range(3):
        await shipper.ship("episode", index, b"x")
    assert [[i for _, i, _ in batch] for batch in batches] == [[0], [1], [2]]


async def test_it_retries_a_failed_hand_over() -> None:
    attempts: list[int] = []

    def flaky(items: list[Item]) -> None:
        attempts.append(len(items))
        if len(attempts) < 3:
            raise ConnectionError("redis is restarting")

    shipper = ChunkShipper(flaky, interval=0.0)
    await shipper.ship("episode", 0, b"x")
    assert attempts == [1, 1, 1]


async def test_it_gives_up_without_stopping_the_session() -> None:
    def broken(items: list[Item]) -> None:
        raise ConnectionError("redis is gone")

    shipper = ChunkShipper(broken, interval=0.0, retries=2)
    await asyncio.wait_for(shipper.ship("episode", 0, b"x"), 5)
