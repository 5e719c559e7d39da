"""The `ActivityStore` on Redis.

hutch:activity:<id>             the activity, JSON
hutch:stream:<stream>           sorted set of activity ids, all scores 0 (ids are time-ordered:
                                "<13-digit milliseconds><random>", so lex order is time order)
hutch:recent:<stream>           sorted set of the ids of a stream of `streams_of`, scored by the
                                millisecond of the latest comment (of the post, uncommented)
hutch:activity:<id>:likes       set of usernames
hutch:activity:<id>:favorites   set of usernames (each also has the id in hutch:stream:favorites:<user>)
hutch:activity:<id>:comments    sorted set of comment ids (lex order is time order)
hutch:comment:<id>              the comment, JSON
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hutch.hub.activity.cursor import Order, SortKey
from hutch.hub.activity.model import Activity, Comment
from hutch.hub.activity.store import actor_stream, favorites_stream, flagged_stream, streams_of
from hutch.hub.store.redis import available


class RedisActivities:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @available
    async def add(self, activity: Activity) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"hutch:activity:{activity.id}", json.dumps(activity.fields()))
            for stream in streams_of(activity):
                pipe.zadd(f"hutch:stream:{stream}", {activity.id: 0})
                pipe.zadd(f"hutch:recent:{stream}", {activity.id: activity.sort_key[0]})
            await pipe.execute()

    @available
    async def get(self, activity_id: str) -> Activity | None:
        found = await self._load([activity_id])
        return found[0] if found else None

    async def _load(self, ids: list[str]) -> list[Activity]:
        """The activities of `ids` still stored, in that order, with their counts: two round trips."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for activity_id in ids:
                pipe.get(f"hutch:activity:{activity_id}")
                pipe.scard(f"hutch:activity:{activity_id}:likes")
                pipe.zcard(f"hutch:activity:{activity_id}:comments")
                pipe.scard(f"hutch:activity:{activity_id}:favorites")
            replies = await pipe.execute() if ids else []
        found = [
            Activity(**json.loads(raw), likes=likes, comments=comments, favorites=favorites)
            for raw, likes, comments, favorites in zip(*[iter(replies)] * 4, strict=True)
            if raw is not None
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for activity in found:
                pipe.zscore(f"hutch:recent:{actor_stream(activity.actor)}", activity.id)
                pipe.zscore(f"hutch:stream:{flagged_stream(activity.context)}", activity.id)
            scores = await pipe.execute() if found else []
        for activity, last, flagged in zip(found, scores[::2], scores[1::2], strict=True):
            if last is not None and last > activity.sort_key[0]:
                activity.commented = last / 1000
            activity.flagged = bool(activity.context) and flagged is not None
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
        if order is Order.PUBLISHED:
            first = await self._newest(streams, before, limit)
        else:
            first = await self._latest(streams, before, limit)
        return await self._load(first)

    async def _newest(self, streams: list[str], before: SortKey | None, limit: int) -> list[str]:
        # Ids sort as time does: each stream's newest `limit` before the cursor, merged.
        top = f"({before[1]}" if before is not None else "+"
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.zrevrangebylex(f"hutch:stream:{stream}", top, "-", 0, limit)
            pages = await pipe.execute() if streams else []
        return sorted({activity_id for page in pages for activity_id in page}, reverse=True)[:limit]

    async def _latest(self, streams: list[str], before: SortKey | None, limit: int) -> list[str]:
        # Each stream's first `limit` by (score, id) after the cursor: those tied with it on
        # its millisecond and below it by id, then those of earlier milliseconds; merged.
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                key = f"hutch:recent:{stream}"
                if before is None:
                    pipe.zrevrangebyscore(key, "+inf", "-inf", 0, limit, withscores=True)
                else:
                    pipe.zrevrangebyscore(key, before[0], before[0], withscores=True)
                    pipe.zrevrangebyscore(key, f"({before[0]}", "-inf", 0, limit, withscores=True)
            pages = await pipe.execute() if streams else []
        keys = {(int(score), activity_id) for page in pages for activity_id, score in page}
        after = sorted((key for key in keys if before is None or key < before), reverse=True)
        return [activity_id for _, activity_id in after[:limit]]

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
            pipe.set(f"hutch:comment:{comment.id}", json.dumps(comment.fields()))
            pipe.zadd(f"hutch:activity:{comment.activity}:comments", {comment.id: 0})
            for stream in streams_of(activity):  # only ever later: two comments at once keep the latest
                pipe.zadd(f"hutch:recent:{stream}", {activity.id: int(comment.published * 1000)}, gt=True)
            await pipe.execute()

    @available
    async def comment(self, comment_id: str) -> Comment | None:
        raw = await self.redis.get(f"hutch:comment:{comment_id}")
        return Comment(**json.loads(raw)) if raw else None

    @available
    async def comments(self, activity_id: str) -> list[Comment]:
        ids = await self.redis.zrange(f"hutch:activity:{activity_id}:comments", 0, -1)
        raws = await self.redis.mget([f"hutch:comment:{i}" for i in ids]) if ids else []
        return [Comment(**json.loads(raw)) for raw in raws if raw]

    @available
    async def delete_comment(self, comment: Comment) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"hutch:comment:{comment.id}")
            pipe.zrem(f"hutch:activity:{comment.activity}:comments", comment.id)
            await pipe.execute()
