"""The `ActivityStore` on Redis.

hutch:activity:<id>             the activity, JSON
hutch:stream:<stream>           sorted set of activity ids, all scores 0 (ids are time-ordered:
                                "<13-digit milliseconds><random>", so lex order is time order)
hutch:activity:<id>:likes       set of usernames
hutch:activity:<id>:favorites   set of usernames (each also has the id in hutch:stream:favorites:<user>)
hutch:activity:<id>:comments    sorted set of comment ids (lex order is time order)
hutch:comment:<id>              the comment, JSON
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hutch.hub.activity.cursor import SortKey
from hutch.hub.activity.model import Activity, Comment
from hutch.hub.activity.store import favorites_stream, flagged_stream, streams_of
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
            await pipe.execute()

    @available
    async def get(self, activity_id: str) -> Activity | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(f"hutch:activity:{activity_id}")
            pipe.scard(f"hutch:activity:{activity_id}:likes")
            pipe.zcard(f"hutch:activity:{activity_id}:comments")
            pipe.scard(f"hutch:activity:{activity_id}:favorites")
            raw, likes, comments, favorites = await pipe.execute()
        if raw is None:
            return None
        activity = Activity(**json.loads(raw), likes=likes, comments=comments, favorites=favorites)
        if activity.context:
            score = await self.redis.zscore(f"hutch:stream:{flagged_stream(activity.context)}", activity_id)
            activity.flagged = score is not None
        return activity

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
            pipe.delete(
                f"hutch:activity:{activity_id}",
                f"hutch:activity:{activity_id}:likes",
                f"hutch:activity:{activity_id}:comments",
                f"hutch:activity:{activity_id}:favorites",
                *(f"hutch:comment:{comment_id}" for comment_id in comment_ids),
            )
            await pipe.execute()

    @available
    async def page(self, streams: list[str], before: SortKey | None, limit: int) -> list[Activity]:
        # Ids sort as time does: each stream's newest `limit` before the cursor, merged.
        top = f"({before[1]}" if before is not None else "+"
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.zrevrangebylex(f"hutch:stream:{stream}", top, "-", 0, limit)
            pages = await pipe.execute() if streams else []
        newest = sorted({activity_id for page in pages for activity_id in page}, reverse=True)[:limit]
        found = [await self.get(activity_id) for activity_id in newest]
        return [activity for activity in found if activity is not None]

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
    async def add_comment(self, comment: Comment) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"hutch:comment:{comment.id}", json.dumps(comment.fields()))
            pipe.zadd(f"hutch:activity:{comment.activity}:comments", {comment.id: 0})
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
