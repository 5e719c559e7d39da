"""What every Redis-backed store shares: one bounded connection pool, and Redis away
raised as the store-neutral `StoreUnavailable`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import redis.asyncio as aioredis
from hutch.hub.store.errors import StoreUnavailable
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

P = ParamSpec("P")
T = TypeVar("T")


def connect(url: str) -> aioredis.Redis:
    """A client on a bounded pool, which makes a busy moment wait for a connection instead of failing."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        decode_responses=True,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=15,
    )
    return aioredis.Redis(connection_pool=pool)


def available(operation: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Redis away is the store's `StoreUnavailable`, for callers that know no backend."""

    @functools.wraps(operation)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await operation(*args, **kwargs)
        except UNAVAILABLE as error:
            raise StoreUnavailable(f"Redis is unreachable: {error}") from error

    return run
