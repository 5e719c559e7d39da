"""The `WebSubStore` protocol: subscriptions by topic with their leases, and which content
versions each has been delivered (so that a job delivered twice is sent once).

Two backends implement it, held to one contract test: `memory.MemoryWebSub` and `redis.RedisWebSub`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.websub.model import Follow, Subscription


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

    async def put_follow(self, follow: Follow) -> None: ...

    async def follow(self, follow_id: str) -> Follow | None: ...

    async def follows(self) -> list[Follow]:
        """Every follow, of every context."""
        ...

    async def unfollow(self, follow_id: str) -> bool: ...

    async def first_sight(self, follow_id: str, entry_id: str) -> bool:
        """True the first time an entry of a followed feed is seen: it is posted once."""
        ...

    async def hold(self, job: str, due: float) -> None:
        """Keep a delivery job to try again at `due`: it outlives the node that failed it."""
        ...

    async def take_due(self, now: float, most: int) -> list[str]:
        """Up to `most` jobs held until `now` or before, each handed out once."""
        ...
