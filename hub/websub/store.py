"""The `WebSubStore` protocol: subscriptions by topic with their leases, and which content
versions each has been delivered (so that a job delivered twice is sent once).

Two backends implement it, held to one contract test: `memory.MemoryWebSub` and `redis.RedisWebSub`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.websub.model import Subscription


class WebSubStore(Protocol):
    async def put(self, subscription: Subscription) -> None:
        """Store it, replacing the one of the same topic and callback."""
        ...

    async def get(self, topic: str, callback: str) -> Subscription | None: ...

    async def delete(self, topic: str, callback: str) -> bool: ...

    async def of_topic(self, topic: str) -> list[Subscription]: ...

    async def expired(self, now: float) -> list[Subscription]:
        """The subscriptions whose lease ended before `now`."""
        ...

    async def was_delivered(self, key: str, version: str) -> bool: ...

    async def delivered(self, key: str, version: str, ttl: int) -> None:
        """Remember for `ttl` seconds that subscription `key` got content `version`."""
        ...
