"""The `FeedStore` on Redis.

hutch:feed:<user>           sorted set of notification ids, all scores 0 (KSUIDs: lex order is
                            time order)
hutch:feed:<user>:items     hash id -> the notification, JSON
hutch:feed:<user>:seen      the newest seen id
hutch:feed:<user>:muted     set of categories not pushed
hutch:feed-rules            hash category -> rule, JSON
"""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis
from hutch.hub.notifications.model import Notification
from hutch.hub.notifications.rollups import Rule
from hutch.hub.store.redis import available

# KEYS: the feed, its items, its cursor; ARGV: id, JSON, limit. Adds, drops the oldest past the
# limit, and counts the unseen, in one step: no reader sees the feed over its limit.
_ADD = """
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local seen = redis.call('GET', KEYS[3])
if not seen then return redis.call('ZCARD', KEYS[1]) end
return redis.call('ZLEXCOUNT', KEYS[1], '(' .. seen, '+')
"""

# KEYS: the feed, its items; ARGV: the upper and lower lex bounds, count. Their JSON, newest first.
_CHUNK = """
local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
"""

# KEYS: the cursor; ARGV: an id. Moves the cursor up to it, never back.
_SEE = """
local seen = redis.call('GET', KEYS[1])
if not seen or ARGV[1] > seen then redis.call('SET', KEYS[1], ARGV[1]) end
"""

# KEYS: the feed, its cursor. How many ids are newer than the cursor.
_UNSEEN = """
local seen = redis.call('GET', KEYS[2])
if not seen then return redis.call('ZCARD', KEYS[1]) end
return redis.call('ZLEXCOUNT', KEYS[1], '(' .. seen, '+')
"""


def _keys(user: str) -> tuple[str, str, str]:
    feed = f"hutch:feed:{user}"
    return feed, f"{feed}:items", f"{feed}:seen"


def _bound(value: str | None, included: bool, open_end: str) -> str:
    return open_end if value is None else f"{'[' if included else '('}{value}"


class RedisFeeds:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._add = redis.register_script(_ADD)
        self._chunk = redis.register_script(_CHUNK)
        self._see = redis.register_script(_SEE)
        self._unseen = redis.register_script(_UNSEEN)

    @available
    async def add(self, user: str, notification: Notification, limit: int) -> int:
        data = orjson.dumps(notification.fields())
        return int(await self._add(keys=_keys(user), args=[notification.id, data, limit]))

    @available
    async def chunk(
        self,
        user: str,
        start: str | None,
        start_included: bool,
        end: str | None,
        end_included: bool,
        count: int,
    ) -> list[Notification]:
        feed, items, _ = _keys(user)
        bounds = [_bound(start, start_included, "+"), _bound(end, end_included, "-"), count]
        found = await self._chunk(keys=[feed, items], args=bounds)
        return [Notification(**orjson.loads(raw)) for raw in found if raw]

    @available
    async def get(self, user: str, notification_id: str) -> Notification | None:
        raw = await self.redis.hget(_keys(user)[1], notification_id)
        return Notification(**orjson.loads(raw)) if raw else None

    @available
    async def seen_up_to(self, user: str) -> str | None:
        return await self.redis.get(_keys(user)[2])

    @available
    async def see(self, user: str, notification_id: str) -> None:
        await self._see(keys=[_keys(user)[2]], args=[notification_id])

    @available
    async def unseen(self, user: str) -> int:
        feed, _, seen = _keys(user)
        return int(await self._unseen(keys=[feed, seen]))

    @available
    async def delete(self, user: str, ids: list[str]) -> None:
        if not ids:
            return
        feed, items, _ = _keys(user)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(feed, *ids)
            pipe.hdel(items, *ids)
            await pipe.execute()

    @available
    async def clear(self, user: str) -> None:
        await self.redis.delete(*_keys(user))

    @available
    async def rules(self) -> dict[str, Rule]:
        found = await self.redis.hgetall("hutch:feed-rules")
        return {category: Rule(**orjson.loads(raw)) for category, raw in found.items()}

    @available
    async def put_rule(self, category: str, rule: Rule) -> None:
        await self.redis.hset("hutch:feed-rules", category, orjson.dumps(rule.to_json()))

    @available
    async def delete_rule(self, category: str) -> bool:
        return bool(await self.redis.hdel("hutch:feed-rules", category))

    @available
    async def muted(self, user: str) -> list[str]:
        return sorted(await self.redis.smembers(f"hutch:feed:{user}:muted"))

    @available
    async def mute(self, user: str, categories: list[str]) -> None:
        key = f"hutch:feed:{user}:muted"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if categories:
                pipe.sadd(key, *categories)
            await pipe.execute()
