"""The `ContextStore` on Redis.

hutch:context:<hash>          the context, JSON
hutch:contexts                set of every context hash
hutch:context:<hash>:subs     hash username -> subscription JSON
hutch:user:<user>:contexts    set of the hashes of the user's subscriptions
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hutch.hub.contexts.model import Context, Subscription
from hutch.hub.store.redis import available


class RedisContexts:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @available
    async def put(self, context: Context) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd("hutch:contexts", context.hash)
            pipe.set(f"hutch:context:{context.hash}", json.dumps(context.fields()))
            added, _ = await pipe.execute()
        return bool(added)

    @available
    async def get(self, hash: str) -> Context | None:
        raw = await self.redis.get(f"hutch:context:{hash}")
        return Context(**json.loads(raw)) if raw else None

    @available
    async def delete(self, hash: str) -> None:
        members = await self.redis.hkeys(f"hutch:context:{hash}:subs")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem("hutch:contexts", hash)
            pipe.delete(f"hutch:context:{hash}", f"hutch:context:{hash}:subs")
            for username in members:
                pipe.srem(f"hutch:user:{username}:contexts", hash)
            await pipe.execute()

    @available
    async def all(self) -> list[Context]:
        hashes = sorted(await self.redis.smembers("hutch:contexts"))
        found = await self.redis.mget([f"hutch:context:{h}" for h in hashes]) if hashes else []
        return sorted((Context(**json.loads(raw)) for raw in found if raw), key=lambda c: c.url)

    @available
    async def subscribe(self, subscription: Subscription) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"hutch:context:{subscription.hash}:subs",
                subscription.username,
                json.dumps(subscription.fields()),
            )
            pipe.sadd(f"hutch:user:{subscription.username}:contexts", subscription.hash)
            added, _ = await pipe.execute()
        return bool(added)

    @available
    async def subscription(self, hash: str, username: str) -> Subscription | None:
        raw = await self.redis.hget(f"hutch:context:{hash}:subs", username)
        return Subscription(**json.loads(raw)) if raw else None

    @available
    async def unsubscribe(self, hash: str, username: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(f"hutch:context:{hash}:subs", username)
            pipe.srem(f"hutch:user:{username}:contexts", hash)
            removed, _ = await pipe.execute()
        return bool(removed)

    @available
    async def subscribers(self, hash: str) -> list[Subscription]:
        found = await self.redis.hgetall(f"hutch:context:{hash}:subs")
        return [Subscription(**json.loads(found[user])) for user in sorted(found)]

    @available
    async def subscriptions_of(self, username: str) -> list[Subscription]:
        hashes = sorted(await self.redis.smembers(f"hutch:user:{username}:contexts"))
        found = []
        for hash in hashes:
            if (subscription := await self.subscription(hash, username)) is not None:
                found.append(subscription)
        return found
