"""The `ContextStore` on Redis.

hutch:context:<hash>          the context, JSON
hutch:contexts                set of every context hash
hutch:context:<hash>:subs     hash username -> subscription JSON
hutch:user:<user>:contexts    set of the hashes of the user's subscriptions
"""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis
from hutch.hub.contexts.model import Context, Subscription
from hutch.hub.store.redis import available

# KEYS[1]: a user's set of context hashes; ARGV[1]: the user. Their subscriptions' JSON, in
# one command however many (it reads each `hutch:context:<hash>:subs`).
_SUBSCRIPTIONS_OF = """
local found = {}
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('HGET', 'hutch:context:' .. hash .. ':subs', ARGV[1])
  if raw then found[#found + 1] = raw end
end
return found
"""


# KEYS[1]: a user's set of context hashes; ARGV: the user, a permission. The hashes of their
# subscriptions that do not veto it.
_NOT_VETOED = """
local found = {}
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('HGET', 'hutch:context:' .. hash .. ':subs', ARGV[1])
  if raw then
    local vetoed = false
    for _, name in ipairs(cjson.decode(raw).vetoes) do vetoed = vetoed or name == ARGV[2] end
    if not vetoed then found[#found + 1] = hash end
  end
end
return found
"""


class RedisContexts:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._subscriptions_of = redis.register_script(_SUBSCRIPTIONS_OF)
        self._not_vetoed = redis.register_script(_NOT_VETOED)

    @available
    async def put(self, context: Context) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd("hutch:contexts", context.hash)
            pipe.set(f"hutch:context:{context.hash}", orjson.dumps(context.fields()))
            added, _ = await pipe.execute()
        return bool(added)

    @available
    async def get(self, hash: str) -> Context | None:
        raw = await self.redis.get(f"hutch:context:{hash}")
        return Context(**orjson.loads(raw)) if raw else None

    @available
    async def many(self, hashes: list[str]) -> dict[str, Context]:
        found = await self.redis.mget([f"hutch:context:{h}" for h in hashes]) if hashes else []
        return {hash: Context(**orjson.loads(raw)) for hash, raw in zip(hashes, found, strict=True) if raw}

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
        return sorted((Context(**orjson.loads(raw)) for raw in found if raw), key=lambda c: c.url)

    @available
    async def subscribe(self, subscription: Subscription) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"hutch:context:{subscription.hash}:subs",
                subscription.username,
                orjson.dumps(subscription.fields()),
            )
            pipe.sadd(f"hutch:user:{subscription.username}:contexts", subscription.hash)
            added, _ = await pipe.execute()
        return bool(added)

    @available
    async def subscription(self, hash: str, username: str) -> Subscription | None:
        raw = await self.redis.hget(f"hutch:context:{hash}:subs", username)
        return Subscription(**orjson.loads(raw)) if raw else None

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
        return [Subscription(**orjson.loads(found[user])) for user in sorted(found)]

    @available
    async def subscriptions_of(self, username: str) -> list[Subscription]:
        found = await self._subscriptions_of(keys=[f"hutch:user:{username}:contexts"], args=[username])
        return sorted((Subscription(**orjson.loads(raw)) for raw in found), key=lambda s: s.hash)

    @available
    async def not_vetoed(self, username: str, permission: str) -> list[str]:
        return sorted(
            await self._not_vetoed(keys=[f"hutch:user:{username}:contexts"], args=[username, permission])
        )
