"""One connection's presence: marked online at login, refreshed a third of the way into each
time to live, dropped when the connection goes. Best effort: an entry not refreshed expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hutch.hub.presence.store import PresenceStore

log = logging.getLogger(__name__)


class PresenceKeeper:
    def __init__(self, store: PresenceStore, user: str, device: str, ttl: float):
        self.store = store
        self.user = user
        self.device = device
        self.ttl = ttl
        self.due = float("inf")  # the monotonic time of the next refresh
        self._refreshing: set[asyncio.Task[None]] = set()

    async def touch(self) -> None:
        self.due = time.monotonic() + self.ttl / 3
        try:
            await self.store.touch(self.user, self.device, self.ttl)
        except Exception as error:  # presence is best effort: it expires by itself
            log.info("presence of %s not refreshed: %s", self.user, error)

    def refresh_if_due(self, now: float) -> None:
        """Refresh in the background once due (a clock tick must not wait on the store)."""
        if now > self.due:
            self.due = now + self.ttl / 3
            task = asyncio.get_running_loop().create_task(self.touch())
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)

    async def drop(self) -> None:
        self.due = float("inf")
        with contextlib.suppress(Exception):  # presence expires by itself anyway
            await self.store.drop(self.user, self.device)
