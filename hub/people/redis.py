"""The `PeopleStore` on Redis.

hutch:person:<user>     the profile, JSON
hutch:people:index      sorted set (all scores 0) of "<search key>\\x00<user>": a prefix is a lex range
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hutch.hub.people.model import Person
from hutch.hub.store.redis import available

_SCAN_BATCH = 200  # index entries read per round while filling a page


class RedisPeople:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @available
    async def get(self, username: str) -> Person | None:
        raw = await self.redis.get(f"hutch:person:{username}")
        return Person(**json.loads(raw)) if raw else None

    @available
    async def put(self, person: Person) -> bool:
        before = await self.get(person.username)
        stale = before.search_keys() - person.search_keys() if before else set()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"hutch:person:{person.username}", json.dumps(person.fields()))
            for key in stale:
                pipe.zrem("hutch:people:index", f"{key}\x00{person.username}")
            pipe.zadd(
                "hutch:people:index", {f"{key}\x00{person.username}": 0 for key in person.search_keys()}
            )
            await pipe.execute()
        return before is None

    @available
    async def search(self, prefix: str, limit: int, *, include_hidden: bool) -> list[Person]:
        found: list[Person] = []
        seen: set[str] = set()
        start, stop, offset = (
            f"[{prefix}",
            f"[{prefix}\U0010ffff",
            0,
        )  # the last code point: every key with the prefix
        while len(found) < limit:
            entries = await self.redis.zrangebylex("hutch:people:index", start, stop, offset, _SCAN_BATCH)
            for entry in entries:
                username = entry.split("\x00", 1)[1]
                if username in seen:
                    continue
                seen.add(username)
                person = await self.get(username)
                if person is not None and (include_hidden or not person.hidden):
                    found.append(person)
                    if len(found) == limit:
                        break
            if len(entries) < _SCAN_BATCH:
                break
            offset += _SCAN_BATCH
        return found
