"""The embedded `FeedStore`, in process memory."""

from __future__ import annotations

import bisect
import copy
from collections import defaultdict

from hutch.hub.notifications.model import Notification
from hutch.hub.notifications.rollups import Rule


class MemoryFeeds:
    def __init__(self) -> None:
        self._ids: defaultdict[str, list[str]] = defaultdict(list)  # user -> ids, oldest first
        self._items: defaultdict[str, dict[str, Notification]] = defaultdict(dict)
        self._seen: dict[str, str] = {}
        self._rules: dict[str, Rule] = {}
        self._muted: dict[str, list[str]] = {}

    async def add(self, user: str, notification: Notification, limit: int) -> int:
        ids, items = self._ids[user], self._items[user]
        if notification.id not in items:
            bisect.insort(ids, notification.id)
        items[notification.id] = copy.deepcopy(notification)
        for gone in ids[: max(len(ids) - limit, 0)]:
            del items[gone]
        del ids[: max(len(ids) - limit, 0)]
        return await self.unseen(user)

    async def chunk(
        self,
        user: str,
        start: str | None,
        start_included: bool,
        end: str | None,
        end_included: bool,
        count: int,
    ) -> list[Notification]:
        ids = self._ids.get(user, [])
        top = (
            len(ids)
            if start is None
            else (bisect.bisect_right if start_included else bisect.bisect_left)(ids, start)
        )
        bottom = 0 if end is None else (bisect.bisect_left if end_included else bisect.bisect_right)(ids, end)
        return [copy.deepcopy(self._items[user][i]) for i in reversed(ids[max(bottom, top - count) : top])]

    async def get(self, user: str, notification_id: str) -> Notification | None:
        return copy.deepcopy(self._items.get(user, {}).get(notification_id))

    async def seen_up_to(self, user: str) -> str | None:
        return self._seen.get(user)

    async def see(self, user: str, notification_id: str) -> None:
        self._seen[user] = max(self._seen.get(user, ""), notification_id)

    async def unseen(self, user: str) -> int:
        ids = self._ids.get(user, [])
        return len(ids) - bisect.bisect_right(ids, self._seen.get(user, ""))

    async def delete(self, user: str, ids: list[str]) -> None:
        for gone in ids:
            if self._items.get(user, {}).pop(gone, None) is not None:
                self._ids[user].remove(gone)

    async def clear(self, user: str) -> None:
        self._ids.pop(user, None)
        self._items.pop(user, None)
        self._seen.pop(user, None)

    async def rules(self) -> dict[str, Rule]:
        return dict(self._rules)

    async def put_rule(self, category: str, rule: Rule) -> None:
        self._rules[category] = rule

    async def delete_rule(self, category: str) -> bool:
        return self._rules.pop(category, None) is not None

    async def muted(self, user: str) -> list[str]:
        return list(self._muted.get(user, []))

    async def mute(self, user: str, categories: list[str]) -> None:
        self._muted[user] = sorted(set(categories))
