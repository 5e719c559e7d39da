"""The `ActivityStore` on Redis.

hutch:activity:<id>             the activity, JSON
hutch:stream:<stream>           sorted set of activity ids, all scores 0 (ids are time-ordered:
                                "<13-digit milliseconds><random>", so lex order is time order)
hutch:heads                     sorted set of the keys of the streams of `streams_of`, scored by the ms of
                                their newest activity (or later: a deletion leaves it), a bound
hutch:recent:<stream>           sorted set of the ids of a stream of `streams_of`, scored by the
                                millisecond of the latest comment (of the post, uncommented)
hutch:activity:<id>:likes       set of usernames
hutch:activity:<id>:favorites   set of usernames (each also has the id in hutch:stream:favorites:<user>)
hutch:activity:<id>:comments    sorted set of comment ids (lex order is time order)
hutch:comment:<id>              the comment, JSON
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from hutch.hub.activity.cursor import Order, SortKey
from hutch.hub.activity.model import Activity, Comment
from hutch.hub.activity.store import favorites_stream, flagged_stream, streams_of
from hutch.hub.store.redis import available

# One script per page read, whatever the number of streams and items: a timeline of 200
# contexts is one command, not 200 (each command costs the client far more than the server).

# rows_of(ids): for each id, false or {JSON, likes, comments, favorites, the score in its actor's
# order by comments, the score in its context's pinned stream}. It reads the keys named in the
# module's docstring, some of them found from the activity's own JSON.
_ROWS_OF = """
local function rows_of(ids)
local rows = {}
for i, id in ipairs(ids) do
  local raw = redis.call('GET', 'hutch:activity:' .. id)
  if raw then
    local activity = cjson.decode(raw)
    local flagged = false
    if activity.context ~= '' then
      flagged = redis.call('ZSCORE', 'hutch:stream:flagged:' .. activity.context, id)
    end
    rows[i] = {raw, redis.call('SCARD', 'hutch:activity:' .. id .. ':likes'),
      redis.call('ZCARD', 'hutch:activity:' .. id .. ':comments'),
      redis.call('SCARD', 'hutch:activity:' .. id .. ':favorites'),
      redis.call('ZSCORE', 'hutch:recent:actor:' .. activity.actor, id), flagged}
  else
    rows[i] = false
  end
end
return rows
end
"""
_LOAD = _ROWS_OF + "return rows_of(ARGV)"  # ARGV: activity ids

# ARGV: the streams' names, separated by spaces (names hold none; one argument: a client pays for
# each, the server hardly), the upper bound ('+' or '(<id>'), limit. Streams are scored all 0: ids in lex order
# are time order. The rows of the newest `limit` ids of all the streams below the
# bound, merged a few ids of each stream at a time. A stream's head (the millisecond of its
# newest id, or later) bounds what it holds: a stream is read only once its head is as new as
# the newest id not yet taken, so a timeline of 200 contexts reads the few that matter.
_NEWEST = """
local bound, limit, BATCH = ARGV[2], tonumber(ARGV[3]), 4
local below = math.huge
if bound ~= '+' then below = tonumber(string.sub(bound, 2, 14)) end
local keys = {}
for name in string.gmatch(ARGV[1], '%S+') do keys[#keys + 1] = 'hutch:stream:' .. name end
local waiting = {}
for i, head in ipairs(redis.call('ZMSCORE', 'hutch:heads', unpack(keys))) do
  waiting[i] = {math.min(head and tonumber(head) or math.huge, below), keys[i]} -- no head: read it
end
table.sort(waiting, function(a, b) return a[1] > b[1] end)
local read, next_waiting, ids, last = {}, 1, {}, nil
local function fetch(stream, upper)
  stream.ids, stream.at = redis.call('ZREVRANGEBYLEX', stream.key, upper, '-', 'LIMIT', 0, BATCH), 1
end
while #ids < limit do
  local best, newest = nil, nil
  for _, stream in ipairs(read) do
    local id = stream.ids[stream.at]
    if id and (not newest or id > newest) then best, newest = stream, id end
  end
  local head = waiting[next_waiting]
  if head and (not newest or head[1] >= tonumber(string.sub(newest, 1, 13))) then
    local stream = {key = head[2]}
    fetch(stream, bound)
    read[#read + 1], next_waiting = stream, next_waiting + 1
  elseif not best then
    break
  else
    if newest ~= last then ids[#ids + 1], last = newest, newest end -- in two streams: met in a row
    best.at = best.at + 1
    if best.at > BATCH then fetch(best, '(' .. newest) end
  end
end
return rows_of(ids)
"""

# ARGV: the streams' names, separated by spaces, limit, then the cursor's score and id if any; their
# order by comments is `hutch:recent:<stream>`, scored by milliseconds. The first `limit` ids by (score, id) descending after the cursor: those tied with
# it on its millisecond and below it by id, then those of earlier milliseconds; their rows.
_LATEST = """
local limit, found, seen = tonumber(ARGV[2]), {}, {}
local score, below = tonumber(ARGV[3]), ARGV[4]
local function take(reply, tied)
  for i = 1, #reply, 2 do
    local id = reply[i]
    if not seen[id] and (not tied or id < below) then
      seen[id] = true; found[#found + 1] = {tonumber(reply[i + 1]), id}
    end
  end
end
for name in string.gmatch(ARGV[1], '%S+') do
  local key = 'hutch:recent:' .. name
  if score then
    take(redis.call('ZREVRANGEBYSCORE', key, score, score, 'WITHSCORES'), true)
    take(redis.call('ZREVRANGEBYSCORE', key, '(' .. ARGV[3], '-inf', 'WITHSCORES', 'LIMIT', 0, limit), false)
  else
    take(redis.call('ZREVRANGEBYSCORE', key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, limit), false)
  end
end
table.sort(found, function(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] > b[2]) end)
local ids = {}
for i = 1, math.min(limit, #found) do ids[i] = found[i][2] end
return rows_of(ids)
"""


class RedisActivities:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._load_rows = redis.register_script(_LOAD)
        self._newest_rows = redis.register_script(_ROWS_OF + _NEWEST)
        self._latest_rows = redis.register_script(_ROWS_OF + _LATEST)

    @available
    async def add(self, activity: Activity) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"hutch:activity:{activity.id}", orjson.dumps(activity.fields()))
            for stream in streams_of(activity):
                pipe.zadd(f"hutch:stream:{stream}", {activity.id: 0})
                pipe.zadd(f"hutch:recent:{stream}", {activity.id: activity.sort_key[0]})
                pipe.zadd("hutch:heads", {f"hutch:stream:{stream}": activity.sort_key[0]}, gt=True)
            await pipe.execute()

    @available
    async def get(self, activity_id: str) -> Activity | None:
        found = await self._load([activity_id])
        return found[0] if found else None

    async def _load(self, ids: list[str]) -> list[Activity]:
        """The activities of `ids` still stored, in that order, with their counts: one script."""
        return self._activities(await self._load_rows(args=ids) if ids else [])

    @staticmethod
    def _activities(rows: list[Any]) -> list[Activity]:
        """Activities from the rows of `rows_of`; a gone one's row is false."""
        found = []
        for row in rows:
            if not row:
                continue
            raw, likes, comments, favorites, last, flagged = row
            activity = Activity(**orjson.loads(raw), likes=likes, comments=comments, favorites=favorites)
            if last is not None and float(last) > activity.sort_key[0]:
                activity.commented = float(last) / 1000
            activity.flagged = flagged is not None
            found.append(activity)
        return found

    @available
    async def delete(self, activity_id: str) -> None:
        activity = await self.get(activity_id)
        if activity is None:
            return
        comment_ids = await self.redis.zrange(f"hutch:activity:{activity_id}:comments", 0, -1)
        fans = await self.redis.smembers(f"hutch:activity:{activity_id}:favorites")
        async with self.redis.pipeline(transaction=True) as pipe:
            flagged = [flagged_stream(activity.context)] if activity.context else []
            for stream in [*streams_of(activity), *flagged, *(favorites_stream(user) for user in fans)]:
                pipe.zrem(f"hutch:stream:{stream}", activity_id)
            for stream in streams_of(activity):
                pipe.zrem(f"hutch:recent:{stream}", activity_id)
            pipe.delete(
                f"hutch:activity:{activity_id}",
                f"hutch:activity:{activity_id}:likes",
                f"hutch:activity:{activity_id}:comments",
                f"hutch:activity:{activity_id}:favorites",
                *(f"hutch:comment:{comment_id}" for comment_id in comment_ids),
            )
            await pipe.execute()

    @available
    async def page(
        self, streams: list[str], before: SortKey | None, limit: int, order: Order = Order.PUBLISHED
    ) -> list[Activity]:
        if not streams:
            return []
        if order is Order.PUBLISHED:
            top = f"({before[1]}" if before is not None else "+"
            rows = await self._newest_rows(args=[" ".join(streams), top, limit])
        else:
            after = [before[0], before[1]] if before is not None else []
            rows = await self._latest_rows(args=[" ".join(streams), limit, *after])
        return self._activities(rows)

    @available
    async def like(self, activity_id: str, username: str) -> bool:
        return bool(await self.redis.sadd(f"hutch:activity:{activity_id}:likes", username))

    @available
    async def unlike(self, activity_id: str, username: str) -> bool:
        return bool(await self.redis.srem(f"hutch:activity:{activity_id}:likes", username))

    @available
    async def favorite(self, activity: Activity, username: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(f"hutch:activity:{activity.id}:favorites", username)
            pipe.zadd(f"hutch:stream:{favorites_stream(username)}", {activity.id: 0})
            added, _ = await pipe.execute()
        return bool(added)

    @available
    async def unfavorite(self, activity: Activity, username: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(f"hutch:activity:{activity.id}:favorites", username)
            pipe.zrem(f"hutch:stream:{favorites_stream(username)}", activity.id)
            removed, _ = await pipe.execute()
        return bool(removed)

    @available
    async def flag(self, activity: Activity) -> bool:
        return bool(
            await self.redis.zadd(f"hutch:stream:{flagged_stream(activity.context)}", {activity.id: 0})
        )

    @available
    async def unflag(self, activity: Activity) -> bool:
        return bool(await self.redis.zrem(f"hutch:stream:{flagged_stream(activity.context)}", activity.id))

    @available
    async def add_comment(self, activity: Activity, comment: Comment) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"hutch:comment:{comment.id}", orjson.dumps(comment.fields()))
            pipe.zadd(f"hutch:activity:{comment.activity}:comments", {comment.id: 0})
            for stream in streams_of(activity):  # only ever later: two comments at once keep the latest
                pipe.zadd(f"hutch:recent:{stream}", {activity.id: int(comment.published * 1000)}, gt=True)
            await pipe.execute()

    @available
    async def comment(self, comment_id: str) -> Comment | None:
        raw = await self.redis.get(f"hutch:comment:{comment_id}")
        return Comment(**orjson.loads(raw)) if raw else None

    @available
    async def comments(self, activity_id: str) -> list[Comment]:
        ids = await self.redis.zrange(f"hutch:activity:{activity_id}:comments", 0, -1)
        raws = await self.redis.mget([f"hutch:comment:{i}" for i in ids]) if ids else []
        return [Comment(**orjson.loads(raw)) for raw in raws if raw]

    @available
    async def delete_comment(self, comment: Comment) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"hutch:comment:{comment.id}")
            pipe.zrem(f"hutch:activity:{comment.activity}:comments", comment.id)
            await pipe.execute()
