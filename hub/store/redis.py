"""What every Redis-backed store shares: one bounded connection pool, and Redis away
raised as the store-neutral `StoreUnavailable`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from hutch.hub.store.errors import StoreUnavailable
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

P = ParamSpec("P")
T = TypeVar("T")


CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 5,
    "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), 3),
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    "health_check_interval": 15,
}


def connect(url: str) -> aioredis.Redis:
    """A client on a bounded pool, which makes a busy moment wait for a connection instead of failing."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5, **CLIENT_OPTIONS)
    return aioredis.Redis(connection_pool=pool)


def connect_sentinel(
    sentinels: list[tuple[str, int]], service: str, url: str | None = None
) -> aioredis.Redis:
    """A client on the primary the sentinels name: after a failover its connections go to the new one.
    `url` (optional) gives the password and database."""
    options = dict(CLIENT_OPTIONS)
    if url:
        parsed = urlsplit(url)
        options["password"] = unquote(parsed.password) if parsed.password else None
        options["db"] = int(parsed.path.strip("/") or 0)
    sentinel = Sentinel(sentinels, socket_timeout=1, sentinel_kwargs={"socket_timeout": 1})
    return sentinel.master_for(service, redis_class=aioredis.Redis, **options)


def available(operation: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Redis away is the store's `StoreUnavailable`, for callers that know no backend."""

    @functools.wraps(operation)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await operation(*args, **kwargs)
        except UNAVAILABLE as error:
            raise StoreUnavailable(f"Redis is unreachable: {error}") from error

    return run
