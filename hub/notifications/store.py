"""The `FeedStore` protocol: per user, notifications by id (newest first), the unseen cursor,
muted categories; and the rollup rules of every category.

Two backends implement it, held to one contract test: `memory.MemoryFeeds` and
`redis.RedisFeeds`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.notifications.model import Notification
from hutch.hub.notifications.rollups import Rule


class FeedStore(Protocol):
    async def add(self, user: str, notification: Notification, limit: int) -> int:
        """Store it, dropping the oldest past `limit` in the same step; the user's unseen count."""
        ...

    async def chunk(
        self,
        user: str,
        start: str | None,
        start_included: bool,
        end: str | None,
        end_included: bool,
        count: int,
    ) -> list[Notification]:
        """At most `count`, newest first, from `start` (or the newest) down to `end` (or the oldest)."""
        ...

    async def get(self, user: str, notification_id: str) -> Notification | None: ...

    async def seen_up_to(self, user: str) -> str | None:
        """The newest id the user has seen."""
        ...

    async def see(self, user: str, notification_id: str) -> None:
        """Move the cursor up to `notification_id`; never back."""
        ...

    async def unseen(self, user: str) -> int:
        """How many are newer than the cursor."""
        ...

    async def delete(self, user: str, ids: list[str]) -> None: ...

    async def clear(self, user: str) -> None:
        """Every notification of the user goes, and the cursor."""
        ...

    async def rules(self) -> dict[str, Rule]: ...

    async def put_rule(self, category: str, rule: Rule) -> None: ...

    async def delete_rule(self, category: str) -> bool:
        """False when no rule was stored for `category`."""
        ...

    async def muted(self, user: str) -> list[str]:
        """The categories the user is not pushed for."""
        ...

    async def mute(self, user: str, categories: list[str]) -> None:
        """Replace the user's muted categories."""
        ...
