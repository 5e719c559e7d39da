"""The embedded `WebSubStore`, in process memory."""

from __future__ import annotations

import copy
import time

from hutch.hub.websub.model import Follow, Subscription, topic_key


class MemoryWebSub:
    def __init__(self) -> None:
        self._topics: dict[str, dict[str, Subscription]] = {}  # topic key -> callback -> subscription
        self._delivered: dict[tuple[str, str], float] = {}  # (subscription, version) -> until
        self._follows: dict[str, Follow] = {}
        self._seen: set[tuple[str, str]] = set()
        self._held: list[tuple[float, str]] = []

    async def put(self, subscription: Subscription) -> None:
        self._topics.setdefault(topic_key(subscription.topic), {})[subscription.callback] = copy.copy(
            subscription
        )

    async def get(self, topic: str, callback: str) -> Subscription | None:
        return copy.copy(self._topics.get(topic_key(topic), {}).get(callback))

    async def delete(self, topic: str, callback: str) -> bool:
        return self._topics.get(topic_key(topic), {}).pop(callback, None) is not None

    async def of_topic(self, topic: str) -> list[Subscription]:
        found = self._topics.get(topic_key(topic), {})
        return [copy.copy(found[callback]) for callback in sorted(found)]

    async def expired(self, now: float) -> list[Subscription]:
        return [copy.copy(s) for by in self._topics.values() for s in by.values() if s.expires < now]

    async def was_delivered(self, key: str, version: str) -> bool:
        return self._delivered.get((key, version), 0.0) > time.time()

    async def delivered(self, key: str, version: str, ttl: int) -> None:
        self._delivered[(key, version)] = time.time() + ttl

    async def put_follow(self, follow: Follow) -> None:
        self._follows[follow.id] = copy.copy(follow)

    async def follow(self, follow_id: str) -> Follow | None:
        return copy.copy(self._follows.get(follow_id))

    async def follows(self) -> list[Follow]:
        return [copy.copy(f) for f in self._follows.values()]

    async def unfollow(self, follow_id: str) -> bool:
        return self._follows.pop(follow_id, None) is not None

    async def first_sight(self, follow_id: str, entry_id: str) -> bool:
        new = (follow_id, entry_id) not in self._seen
        self._seen.add((follow_id, entry_id))
        return new

    async def hold(self, job: str, due: float) -> None:
        self._held.append((due, job))

    async def take_due(self, now: float, most: int) -> list[str]:
        due = sorted(entry for entry in self._held if entry[0] <= now)[:most]
        for entry in due:
            self._held.remove(entry)
        return [job for _, job in due]
