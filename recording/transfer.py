"""Chunks travel from the web process to a worker through Redis, under a key with a TTL.

Celery messages carry only ids (episode, chunk index); the bytes wait in Redis until a worker
has stored them, so a retried or duplicated task finds the same bytes.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, health_check_interval=30)


def chunk_key(episode_id: str, index: int) -> str:
    return f"arcade:chunk:{episode_id}:{index}"


def put(episode_id: str, index: int, blob: bytes) -> None:
    client().set(chunk_key(episode_id, index), blob, ex=settings.ARCADE["CHUNK_TTL_SECONDS"])


def get(episode_id: str, index: int) -> bytes | None:
    value = client().get(chunk_key(episode_id, index))
    return bytes(value) if value is not None else None  # type: ignore[arg-type]


def discard(episode_id: str, index: int) -> None:
    client().delete(chunk_key(episode_id, index))


def put_many(items: list[tuple[str, int, bytes]]) -> None:
    ttl = settings.ARCADE["CHUNK_TTL_SECONDS"]
    with client().pipeline(transaction=False) as pipe:
        for episode_id, index, blob in items:
            pipe.set(chunk_key(episode_id, index), blob, ex=ttl)
        pipe.execute()


def get_many(refs: list[tuple[str, int]]) -> list[bytes | None]:
    if not refs:
        return []
    values = client().mget([chunk_key(e, i) for e, i in refs])
    return [bytes(v) if v is not None else None for v in values]  # type: ignore[union-attr]


def discard_many(refs: list[tuple[str, int]]) -> None:
    if refs:
        client().delete(*[chunk_key(e, i) for e, i in refs])


def waiting(episode_id: str) -> list[int]:
    """Indices of the episode's chunks whose bytes wait in Redis, not yet stored."""
    prefix = chunk_key(episode_id, 0).removesuffix("0")
    keys = client().scan_iter(match=f"{prefix}*", count=1000)
    return sorted(int(key.rsplit(b":", 1)[1]) for key in keys)
