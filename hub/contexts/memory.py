"""The embedded `ContextStore`, in process memory."""

from __future__ import annotations

import copy

from hutch.hub.contexts.model import Context, Subscription


class MemoryContexts:
    def __init__(self) -> None:
        self._contexts: dict[str, Context] = {}
        self._subscriptions: dict[tuple[str, str], Subscription] = {}  # (hash, user) -> subscription

    async def put(self, context: Context) -> bool:
        new = context.hash not in self._contexts
        self._contexts[context.hash] = copy.deepcopy(context)  # a caller's later changes are not stored
        return new

    async def get(self, hash: str) -> Context | None:
        return copy.deepcopy(self._contexts.get(hash))

    async def many(self, hashes: list[str]) -> dict[str, Context]:
        return {hash: copy.deepcopy(self._contexts[hash]) for hash in hashes if hash in self._contexts}

    async def delete(self, hash: str) -> None:
        self._contexts.pop(hash, None)
        for key in [key for key in self._subscriptions if key[0] == hash]:
            del self._subscriptions[key]

    async def all(self) -> list[Context]:
        return [copy.deepcopy(c) for c in sorted(self._contexts.values(), key=lambda c: c.url)]

    async def subscribe(self, subscription: Subscription) -> bool:
        key = (subscription.hash, subscription.username)
        new = key not in self._subscriptions
        self._subscriptions[key] = copy.deepcopy(subscription)
        return new

    async def subscription(self, hash: str, username: str) -> Subscription | None:
        return copy.deepcopy(self._subscriptions.get((hash, username)))

    async def unsubscribe(self, hash: str, username: str) -> bool:
        return self._subscriptions.pop((hash, username), None) is not None

    async def subscribers(self, hash: str) -> list[Subscription]:
        found = [s for (h, _), s in self._subscriptions.items() if h == hash]
        return [copy.deepcopy(s) for s in sorted(found, key=lambda s: s.username)]

    async def subscriptions_of(self, username: str) -> list[Subscription]:
        found = [s for (_, u), s in self._subscriptions.items() if u == username]
        return [copy.deepcopy(s) for s in sorted(found, key=lambda s: s.hash)]

    async def not_vetoed(self, username: str, permission: str) -> list[str]:
        return sorted(
            h for (h, u), s in self._subscriptions.items() if u == username and permission not in s.vetoes
        )
