"""The `WebSubStore` on Redis.

hutch:websub:topic:<topic key>          hash callback -> subscription JSON
hutch:websub:leases                     sorted set "<topic key> <callback>" scored by expiry
hutch:websub:delivered:<sub>:<version>  set while a delivery is remembered (it expires)
hutch:websub:follows                    hash follow id -> follow JSON
hutch:websub:seen:<follow id>           set of the entry ids of the feed posted already
hutch:websub:held                       sorted set of delivery jobs (JSON) to try again, by when
"""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis
from hutch.hub.store.redis import available
from hutch.hub.websub.model import Follow, Subscription, topic_key

LEASES = "hutch:websub:leases"
HELD = "hutch:websub:held"

# KEYS[1]: the held jobs; ARGV: now, most. The due ones, each taken by one node only.
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


def _topic(topic: str) -> str:
    return f"hutch:websub:topic:{topic_key(topic)}"


class RedisWebSub:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._take_due = redis.register_script(_TAKE_DUE)

    @available
    async def put(self, subscription: Subscription) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_topic(subscription.topic), subscription.callback, orjson.dumps(subscription.fields()))
            pipe.zadd(
                LEASES, {f"{topic_key(subscription.topic)} {subscription.callback}": subscription.expires}
            )
            await pipe.execute()

    @available
    async def get(self, topic: str, callback: str) -> Subscription | None:
        raw = await self.redis.hget(_topic(topic), callback)
        return Subscription(**orjson.loads(raw)) if raw else None

    @available
    async def delete(self, topic: str, callback: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(_topic(topic), callback)
            pipe.zrem(LEASES, f"{topic_key(topic)} {callback}")
            removed, _ = await pipe.execute()
        return bool(removed)

    @available
    async def of_topic(self, topic: str) -> list[Subscription]:
        found = await self.redis.hgetall(_topic(topic))
        return [Subscription(**orjson.loads(found[callback])) for callback in sorted(found)]

    @available
    async def expired(self, now: float) -> list[Subscription]:
        ended = []
        for entry in await self.redis.zrangebyscore(LEASES, "-inf", f"({now}"):
            key, _, callback = entry.partition(" ")
            raw = await self.redis.hget(f"hutch:websub:topic:{key}", callback)
            if raw:
                ended.append(Subscription(**orjson.loads(raw)))
            else:  # its subscription went another way
                await self.redis.zrem(LEASES, entry)
        return ended

    @available
    async def was_delivered(self, key: str, version: str) -> bool:
        return bool(await self.redis.exists(f"hutch:websub:delivered:{key}:{version}"))

    @available
    async def delivered(self, key: str, version: str, ttl: int) -> None:
        await self.redis.set(f"hutch:websub:delivered:{key}:{version}", 1, ex=ttl)

    @available
    async def put_follow(self, follow: Follow) -> None:
        await self.redis.hset("hutch:websub:follows", follow.id, orjson.dumps(follow.fields()))

    @available
    async def follow(self, follow_id: str) -> Follow | None:
        raw = await self.redis.hget("hutch:websub:follows", follow_id)
        return Follow(**orjson.loads(raw)) if raw else None

    @available
    async def follows(self) -> list[Follow]:
        return [
            Follow(**orjson.loads(raw)) for raw in (await self.redis.hgetall("hutch:websub:follows")).values()
        ]

    @available
    async def unfollow(self, follow_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel("hutch:websub:follows", follow_id)
            pipe.delete(f"hutch:websub:seen:{follow_id}")
            removed, _ = await pipe.execute()
        return bool(removed)

    @available
    async def first_sight(self, follow_id: str, entry_id: str) -> bool:
        return bool(await self.redis.sadd(f"hutch:websub:seen:{follow_id}", entry_id))

    @available
    async def hold(self, job: str, due: float) -> None:
        await self.redis.zadd(HELD, {job: due})

    @available
    async def take_due(self, now: float, most: int) -> list[str]:
        return await self._take_due(keys=[HELD], args=[now, most])
