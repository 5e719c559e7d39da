"""Who may do what with contexts and subscriptions; refusals are `hub.errors` kinds.

The owner of a context and admins manage it. Anyone signed in reads a context and joins one
whose `subscribe` policy is public; a subscriber holding `invite` adds others, one holding
`kick` removes others, and one holding `unsubscribe` leaves (unlike MAX, which stores invite
and kick but never checks them).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from hutch.hub.auth import Identity
from hutch.hub.contexts.model import PERMISSIONS, Context, Policy, Subscription
from hutch.hub.contexts.store import ContextStore
from hutch.hub.errors import Forbidden, Invalid, NotFound

SubscriptionChange = Callable[[str, str], Awaitable[None]]  # (context hash, user)


class Contexts:
    def __init__(self, store: ContextStore, on_change: SubscriptionChange | None = None):
        self.store = store
        self.on_change = on_change  # the node's user streams follow subscriptions and notifications

    async def _changed(self, hash: str, users: list[str]) -> None:
        if self.on_change is not None:
            for user in users:
                await self.on_change(hash, user)

    async def create(self, identity: Identity, context: Context) -> tuple[Context, bool]:
        """A new context (201), or the one of that URL unchanged (200), as MAX."""
        if not identity.is_admin:
            raise Forbidden("only admins create contexts")
        existing = await self.store.get(context.hash)
        if existing is not None:
            return existing, False
        context.creator = identity.user
        context.owner = context.owner or identity.user
        context.created = time.time()
        await self.store.put(context)
        return context, True

    async def get(self, hash: str) -> Context:
        context = await self.store.get(hash)
        if context is None:
            raise NotFound(f"there is no context '{hash[:64]}'")
        return context

    async def managed(self, identity: Identity, hash: str) -> Context:
        """The context, if `identity` manages it (its owner or an admin)."""
        context = await self.get(hash)
        if not (identity.is_admin or identity.user == context.owner):
            raise Forbidden(f"only the owner of context '{hash}' or an admin may do this")
        return context

    async def save(self, context: Context) -> Context:
        before = await self.store.get(context.hash)
        await self.store.put(context)
        if before is not None and before.notifications != context.notifications:
            await self._changed(
                context.hash, [s.username for s in await self.store.subscribers(context.hash)]
            )
        return context

    async def delete(self, identity: Identity, hash: str) -> None:
        await self.managed(identity, hash)
        subscribers = [s.username for s in await self.store.subscribers(hash)]
        await self.store.delete(hash)
        await self._changed(hash, subscribers)

    async def public(self) -> list[Context]:
        return [c for c in await self.store.all() if c.policy("subscribe") is Policy.PUBLIC]

    async def all(self, identity: Identity, tags: list[str]) -> list[Context]:
        if not identity.is_admin:
            raise Forbidden("only admins list every context")
        return [c for c in await self.store.all() if set(tags) <= set(c.tags)]

    # -- subscriptions -------------------------------------------------------

    async def subscribe(self, identity: Identity, hash: str, username: str) -> tuple[Subscription, bool]:
        context = await self.get(hash)
        existing = await self.store.subscription(hash, username)
        if not await self._may_add(identity, context, username):
            raise Forbidden(f"you may not subscribe '{username}' to context '{hash}'")
        if existing is not None:
            return existing, False
        subscription = Subscription(hash, username, created=time.time())
        await self.store.subscribe(subscription)
        await self._changed(hash, [username])
        return subscription, True

    async def _may_add(self, identity: Identity, context: Context, username: str) -> bool:
        if identity.is_admin or identity.user == context.owner:
            return True
        if username == identity.user:
            return context.policy("subscribe") is Policy.PUBLIC
        return await self.holds(identity.user, context, "invite")

    async def unsubscribe(self, identity: Identity, hash: str, username: str) -> None:
        context = await self.get(hash)
        if await self.store.subscription(hash, username) is None:
            raise NotFound(f"'{username}' is not subscribed to context '{hash}'")
        manager = identity.is_admin or identity.user == context.owner
        permission = "unsubscribe" if username == identity.user else "kick"
        if not (manager or await self.holds(identity.user, context, permission)):
            raise Forbidden(f"you may not unsubscribe '{username}' from context '{hash}' ({permission})")
        await self.store.unsubscribe(hash, username)
        await self._changed(hash, [username])

    async def holds(self, username: str, context: Context, permission: str) -> bool:
        subscription = await self.store.subscription(context.hash, username)
        return subscription is not None and permission in subscription.permissions(context)

    async def subscribers(self, identity: Identity, hash: str) -> tuple[Context, list[Subscription]]:
        context = await self.managed(identity, hash)
        return context, await self.store.subscribers(hash)

    async def subscriptions_of(
        self, identity: Identity, username: str, tags: list[str]
    ) -> list[tuple[Context, Subscription]]:
        if not (identity.is_admin or identity.user == username):
            raise Forbidden("a user's subscriptions are theirs and the admins' to list")
        subscriptions = await self.store.subscriptions_of(username)
        contexts = await self.store.many([subscription.hash for subscription in subscriptions])
        return [
            (contexts[subscription.hash], subscription)
            for subscription in subscriptions
            if subscription.hash in contexts and set(tags) <= set(contexts[subscription.hash].tags)
        ]

    async def set_permission(
        self, identity: Identity, hash: str, username: str, permission: str, *, granted: bool
    ) -> tuple[Subscription, Context, bool]:
        """Grant (or veto) one permission to one subscriber; it survives policy changes.
        True when that changed anything."""
        if permission not in PERMISSIONS:
            raise Invalid(f"'{permission[:40]}' is not a permission: one of {', '.join(PERMISSIONS)}")
        context = await self.managed(identity, hash)
        subscription = await self.store.subscription(hash, username)
        if subscription is None:
            raise NotFound(f"'{username}' is not subscribed to context '{hash}'")
        keep, drop = (
            (subscription.grants, subscription.vetoes)
            if granted
            else (subscription.vetoes, subscription.grants)
        )
        changed = permission not in keep or permission in drop
        if permission not in keep:
            keep.append(permission)
        if permission in drop:
            drop.remove(permission)
        if changed:
            await self.store.subscribe(subscription)
            await self._changed(hash, [username])  # a vetoed read ends the live news
        return subscription, context, changed

    async def reset_permissions(
        self, identity: Identity, hash: str, username: str
    ) -> tuple[Subscription, Context]:
        context = await self.managed(identity, hash)
        subscription = await self.store.subscription(hash, username)
        if subscription is None:
            raise NotFound(f"'{username}' is not subscribed to context '{hash}'")
        subscription.grants, subscription.vetoes = [], []
        await self.store.subscribe(subscription)
        await self._changed(hash, [username])
        return subscription, context

    async def set_preferences(
        self, identity: Identity, hash: str, username: str, choices: dict[str, bool]
    ) -> tuple[Subscription, Context]:
        """A subscriber's own `realtime` and `push` choices: theirs to make, or an admin's."""
        if not (identity.is_admin or identity.user == username):
            raise Forbidden("a subscriber's preferences are theirs and the admins' to set")
        context = await self.get(hash)
        subscription = await self.store.subscription(hash, username)
        if subscription is None:
            raise NotFound(f"'{username}' is not subscribed to context '{hash}'")
        subscription.realtime = choices.get("realtime", subscription.realtime)
        subscription.push = choices.get("push", subscription.push)
        await self.store.subscribe(subscription)
        await self._changed(hash, [username])
        return subscription, context
