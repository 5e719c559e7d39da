"""The `ContextStore` protocol: contexts by hash, and their subscriptions.

Two backends implement it with the same behaviour, held to it by one contract test:
`memory.MemoryContexts` and `redis.RedisContexts`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.contexts.model import Context, Subscription


class ContextStore(Protocol):
    async def put(self, context: Context) -> bool:
        """Store a context; True when it is new."""
        ...

    async def get(self, hash: str) -> Context | None: ...

    async def many(self, hashes: list[str]) -> dict[str, Context]:
        """The contexts of `hashes` that exist, by hash: one read, however many."""
        ...

    async def delete(self, hash: str) -> None:
        """The context and every subscription to it go."""
        ...

    async def all(self) -> list[Context]:
        """Every context, by URL."""
        ...

    async def subscribe(self, subscription: Subscription) -> bool:
        """Store a subscription (its grants and vetoes too); True when it is new."""
        ...

    async def subscription(self, hash: str, username: str) -> Subscription | None: ...

    async def unsubscribe(self, hash: str, username: str) -> bool:
        """False when there was no such subscription."""
        ...

    async def subscribers(self, hash: str) -> list[Subscription]:
        """The subscriptions to a context, by username."""
        ...

    async def subscriptions_of(self, username: str) -> list[Subscription]:
        """A user's subscriptions, by context hash."""
        ...

    async def not_vetoed(self, username: str, permission: str) -> list[str]:
        """The hashes of the user's subscriptions that do not veto `permission`, in one read
        (a timeline asks it of every context of its user)."""
        ...
