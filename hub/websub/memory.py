"""The embedded `WebSubStore`, in process memory."""

from __future__ import annotations

import copy
import time

from hutch.hub.websub.model import Subscription, topic_key


class MemoryWebSub:
    def __init__(self) -> None:
        self._topics: dict[str, dict[str, Subscription]] = {}  # topic key -> callback -> subscription
        self._delivered: dict[tuple[str, str], float] = {}  # (subscription, version) -> until

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
