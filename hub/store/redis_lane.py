"""A lean Redis connection for the commands every chat message costs (the APPEND script).

redis-py spends about 125 µs of the hub's CPU on a one-command pipeline (its pool, retries,
timeouts and parser layers); the same commands written straight to a socket and read back with
hiredis cost about 13. Only that path comes here. Everything else, and every batch the lane
cannot carry (no connection, a lost one, a primary turned replica), goes through the redis-py
client, which knows Sentinel, retries with backoff and reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from hutch.hub.deadlines import Deadlines
from hutch.hub.store.redis import UNAVAILABLE
from redis._parsers.base import BaseParser
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError

Command = tuple[str | bytes | int | float, ...]

NAME = "hutch-lane"  # as CLIENT LIST shows it


class _Replies(asyncio.Protocol):
    """Commands out, replies in, in the order they were sent. A batch not answered within
    `timeout` seconds fails them all: one timer for the connection, not one per batch."""

    def __init__(self, encoding: str | None, timeout: float) -> None:
        self.reader = hiredis.Reader(encoding=encoding) if encoding else hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None
        self._deadlines: Deadlines[asyncio.Future[Any]] = Deadlines(  # a batch's last reply
            timeout,
            lambda reply: reply.done(),
            lambda _: self.close(TimeoutError(f"Redis did not answer in {timeout:g} s")),
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not asyncio's class

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    reply = BaseParser.parse_error(str(reply))
                waiter = self.waiting.popleft()
                if not waiter.done():
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as error:  # not Redis, or out of step: start again
            self.close(RedisConnectionError(f"Redis answered out of step: {error!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(RedisConnectionError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def send(self, commands: Sequence[Command]) -> list[asyncio.Future[Any]]:
        if self.lost is not None or self.transport is None:
            raise self.lost or RedisConnectionError("not connected")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self.waiting.extend(futures)
        self.transport.write(b"".join(hiredis.pack_command(command) for command in commands))
        self._deadlines.add(futures[-1])
        return futures

    def close(self, why: Exception) -> None:
        if self.lost is None:
            self.lost = why
        self._deadlines.clear()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(why)
        if self.transport is not None:
            self.transport.abort()


class RedisLane:
    """Runs batches of commands on a connection of its own, with `client` as the fallback."""

    def __init__(self, client: aioredis.Redis, timeout: float = 5.0):
        self.client = client
        self.timeout = timeout
        self._replies: _Replies | None = None
        self._connecting: asyncio.Task[_Replies] | None = None
        self._client_only = False  # a unix socket or TLS: the client's own way

    async def run(self, commands: Sequence[Command]) -> list[Any]:
        """Each command's reply in order, an error reply (a redis-py exception) in its place.
        Redis away raises redis-py's ConnectionError or TimeoutError, after the client's retries."""
        if self._client_only:
            return await self._through_client(commands)
        try:
            replies = await self._connected()
            answers = [await future for future in replies.send(commands)]
        except UNAVAILABLE as error:
            self._drop(error)
            return await self._through_client(commands)
        if any(isinstance(answer, ReadOnlyError) for answer in answers):
            # A primary turned replica (a failover): the client finds the new one. A script
            # refused this way has written nothing: APPEND reads before its first write.
            self._drop(RedisConnectionError("the Redis primary became a replica"))
            return await self._through_client(commands)
        return answers

    async def close(self) -> None:
        self._drop(RedisConnectionError("closed"))

    async def _through_client(self, commands: Sequence[Command]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)

    async def _connected(self) -> _Replies:
        if self._replies is not None and self._replies.lost is None:
            return self._replies
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect())
        connecting = self._connecting
        try:
            self._replies = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return self._replies

    async def _connect(self) -> _Replies:
        pool = self.client.connection_pool
        options = pool.connection_kwargs
        if isinstance(pool, SentinelConnectionPool):
            host, port = await pool.get_master_address()
        elif pool.connection_class is Connection:
            host, port = options.get("host", "localhost"), options.get("port", 6379)
        else:
            self._client_only = True
            raise RedisConnectionError(f"the lane does not speak {pool.connection_class.__name__}")
        encoding = options.get("encoding", "utf-8") if options.get("decode_responses") else None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            _, replies = await loop.create_connection(lambda: _Replies(encoding, self.timeout), host, port)
            setup: list[Command] = []
            if password := options.get("password"):
                username = options.get("username")
                setup.append(("AUTH", username, password) if username else ("AUTH", password))
            setup.append(("CLIENT", "SETNAME", NAME))
            if db := options.get("db"):
                setup.append(("SELECT", db))
            try:
                for answer in [await future for future in replies.send(setup)]:
                    if isinstance(answer, Exception):
                        raise RedisConnectionError(f"Redis refused the lane: {answer}")
            except BaseException:
                replies.close(RedisConnectionError("set-up failed"))
                raise
        return replies

    def _drop(self, why: Exception) -> None:
        if self._replies is not None:
            self._replies.close(why)
            self._replies = None
