"""The `DeviceStore` on Redis.

hutch:devices:<user>        hash device id -> device JSON (push tokens, Web Push subscriptions)
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hutch.hub.push.devices import Device
from hutch.hub.store.redis import available


class RedisDevices:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @available
    async def add(self, device: Device) -> bool:
        return bool(
            await self.redis.hset(f"hutch:devices:{device.user}", device.id, json.dumps(device.to_json()))
        )

    @available
    async def of(self, user: str) -> list[Device]:
        found = await self.redis.hgetall(f"hutch:devices:{user}")
        return [Device(**json.loads(value)) for value in found.values()]

    @available
    async def remove(self, user: str, device_id: str) -> bool:
        return bool(await self.redis.hdel(f"hutch:devices:{user}", device_id))
