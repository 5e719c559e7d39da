"""The feed: notifications in, pages out (rolled up, the unseen cursor moved by a first page),
and each new one handed to `deliver` for the user's devices and the push bridge."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hutch.hub.errors import Invalid
from hutch.hub.notifications.events import DEFAULT_RULES
from hutch.hub.notifications.model import (
    MAX_CATEGORY,
    MAX_MESSAGE,
    MAX_PROPERTIES,
    MAX_PROPERTY,
    Notification,
)
from hutch.hub.notifications.ranges import IdRange
from hutch.hub.notifications.rollups import Page, Rule
from hutch.hub.notifications.store import FeedStore
from hutch.protocol import names

Deliver = Callable[[str, Notification, int], Awaitable[None]]  # (user, notification, unseen count)
CHUNK = 100  # notifications read at a time to fill a page

log = logging.getLogger(__name__)


class Feeds:
    def __init__(self, store: FeedStore, limit: int, deliver: Deliver | None = None):
        self.store = store
        self.limit = limit  # notifications kept per user
        self.deliver = deliver

    async def notify(
        self, user: str, category: str, message: str, properties: dict[str, str]
    ) -> Notification:
        names.check_user(user)
        check(category, message, properties)
        notification = Notification.new(category, message, properties)
        unseen = await self.store.add(user, notification, self.limit)
        if self.deliver is not None:
            await self.deliver(user, notification, unseen)
        return notification

    async def tell(self, user: str, category: str, message: str, properties: dict[str, str]) -> None:
        """`notify` for the hub's own events: a feed that fails is logged, and what caused the
        event (a message, a like) goes on regardless."""
        try:
            await self.notify(user, category, message, properties)
        except Exception as error:
            log.warning("no %s notification for %s: %s", category, user, error)

    async def rules(self) -> dict[str, Rule]:
        """The hub's defaults, with what was stored over them."""
        return DEFAULT_RULES | await self.store.rules()

    async def page(self, user: str, wanted: IdRange) -> Page:
        """The entries of `wanted`, rolled up; a page from the newest marks everything seen."""
        page = Page(await self.rules(), await self.store.seen_up_to(user), wanted.max)
        start, included, newest = wanted.start, wanted.start_included, None
        count = max(CHUNK, wanted.max + 1)
        while True:
            chunk = await self.store.chunk(user, start, included, wanted.end, wanted.end_included, count)
            newest = newest or (chunk[0].id if chunk else None)
            if not all(page.take(notification) for notification in chunk):
                page.full = True
                break
            if len(chunk) < count:
                break
            start, included = chunk[-1].id, False
        if wanted.from_the_newest and newest is not None:
            await self.store.see(user, newest)
        return page


def check(category: str, message: str, properties: object) -> None:
    """A notification the feed takes: bounded, and `properties` a map of strings."""
    if not isinstance(category, str) or not 0 < len(category) <= MAX_CATEGORY:
        raise Invalid(f"'category' is a string of 1 to {MAX_CATEGORY} characters")
    if not isinstance(message, str) or not 0 < len(message) <= MAX_MESSAGE:
        raise Invalid(f"'message' is a string of 1 to {MAX_MESSAGE} characters")
    if not isinstance(properties, dict) or len(properties) > MAX_PROPERTIES:
        raise Invalid(f"'properties' is a map of at most {MAX_PROPERTIES} strings")
    for key, value in properties.items():
        if (
            not (isinstance(key, str) and isinstance(value, str))
            or not 0 < len(key) <= 64
            or len(value) > MAX_PROPERTY
        ):
            raise Invalid(
                f"'properties' maps names of 1 to 64 characters to strings of at most {MAX_PROPERTY}"
            )
