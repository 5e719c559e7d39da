"""The `PresenceStore` on Redis.

hutch:presence:<user>       sorted set device -> expiry (Unix time)
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from hutch.hub.presence.store import Device
from hutch.hub.store.redis import available


class RedisPresence:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @available
    async def touch(self, devices: list[Device], ttl: float) -> None:
        until = time.time() + ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, device in devices:
                pipe.zadd(f"hutch:presence:{user}", {device: until})
            await pipe.execute()

    @available
    async def drop(self, devices: list[Device]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, device in devices:
                pipe.zrem(f"hutch:presence:{user}", device)
            await pipe.execute()

    @available
    async def online(self, users: list[str]) -> dict[str, int]:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.zcount(f"hutch:presence:{user}", now, "+inf")
            counts = await pipe.execute()
        return dict(zip(users, counts, strict=True))
