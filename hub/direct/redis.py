"""`DirectStore` on Redis.

hutch:direct:prefs              hash user -> preferences JSON
hutch:direct:users              set of the users a broadcast reaches
hutch:direct:jobs               hash job id -> job JSON
hutch:direct:due                sorted set of job ids by when they are free to claim: the due
                                time, then the end of a claim's lease
hutch:direct:by:<author>        sorted set of the author's job ids by due time
hutch:direct:sent:<id>          a dispatched send, for a while, for the push bridges
"""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis
from hutch.hub.direct.model import Job, Preferences
from hutch.hub.store.redis import available

PREFERENCES, USERS, JOBS, DUE = (
    "hutch:direct:prefs",
    "hutch:direct:users",
    "hutch:direct:jobs",
    "hutch:direct:due",
)

# KEYS: due, jobs; ARGV: now, lease end, most. The free jobs due now, each leased to the caller
# in the same step, so that no two workers claim one.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local found = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  found[#found + 1] = redis.call('HGET', KEYS[2], id)
end
return found
"""

# KEYS: due, jobs; ARGV: job id, now, lease end. That job, leased, if it is free and due.
_CLAIM_ONE = """
local free = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not free or tonumber(free) > tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return redis.call('HGET', KEYS[2], ARGV[1])
"""


def _by(author: str) -> str:
    return f"hutch:direct:by:{author}"


class RedisDirect:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._claim_one = redis.register_script(_CLAIM_ONE)

    @available
    async def preferences(self, user: str) -> Preferences:
        raw = await self.redis.hget(PREFERENCES, user)
        return Preferences.from_json(orjson.loads(raw)) if raw else Preferences()

    @available
    async def set_preferences(self, user: str, preferences: Preferences) -> None:
        await self.redis.hset(PREFERENCES, user, orjson.dumps(preferences.stored()))

    @available
    async def remember(self, user: str) -> None:
        await self.redis.sadd(USERS, user)

    @available
    async def users(self, cursor: str, count: int) -> tuple[list[str], str]:
        following, page = await self.redis.sscan(USERS, int(cursor or 0), count=count)
        return list(page), "" if int(following) == 0 else str(following)

    @available
    async def schedule(self, job: Job) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(JOBS, job.id, orjson.dumps(job.to_json()))
            pipe.zadd(DUE, {job.id: job.due})
            pipe.zadd(_by(job.author), {job.id: job.due})
            await pipe.execute()

    @available
    async def claim_due(self, now: float, lease: float, most: int) -> list[Job]:
        found = await self._claim_due(keys=[DUE, JOBS], args=[now, now + lease, most])
        return [Job(**orjson.loads(raw)) for raw in found if raw]

    @available
    async def claim(self, job_id: str, now: float, lease: float) -> Job | None:
        raw = await self._claim_one(keys=[DUE, JOBS], args=[job_id, now, now + lease])
        return Job(**orjson.loads(raw)) if raw else None

    @available
    async def done(self, job_id: str) -> None:
        raw = await self.redis.hget(JOBS, job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(JOBS, job_id)
            pipe.zrem(DUE, job_id)
            if raw:
                pipe.zrem(_by(orjson.loads(raw)["author"]), job_id)
            await pipe.execute()

    @available
    async def keep_sent(self, job: Job, ttl: float) -> None:
        await self.redis.set(f"hutch:direct:sent:{job.id}", orjson.dumps(job.to_json()), ex=max(int(ttl), 1))

    @available
    async def sent(self, job_id: str) -> Job | None:
        raw = await self.redis.get(f"hutch:direct:sent:{job_id}")
        return Job(**orjson.loads(raw)) if raw else None

    @available
    async def of_author(self, author: str) -> list[Job]:
        ids = await self.redis.zrange(_by(author), 0, -1)
        if not ids:
            return []
        found = await self.redis.hmget(JOBS, ids)
        return [Job(**orjson.loads(raw)) for raw in found if raw]

    @available
    async def pending(self, author: str) -> int:
        return int(await self.redis.zcard(_by(author)))

    @available
    async def cancel(self, author: str, job_id: str) -> bool:
        if await self.redis.zscore(_by(author), job_id) is None:
            return False
        await self.done(job_id)
        return True
