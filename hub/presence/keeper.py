"""Presence of connections: marked online at login, refreshed a third of the way into each
time to live, dropped when the connection goes. Best effort: an entry not refreshed expires.

A node's refreshes go to the store together (`Refreshes`): connections made together fall due
together, and on Redis one round trip for all of them costs little more than one alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hutch.hub.presence.store import PresenceStore

log = logging.getLogger(__name__)

Device = tuple[str, str]  # (user, device)


class Refreshes:
    """The node's refreshes: those asked for while one batch is on its way go as the next."""

    def __init__(self, store: PresenceStore, ttl: float):
        self.store = store
        self.ttl = ttl
        self._due: dict[Device, None] = {}  # an ordered set
        self._waiting: list[asyncio.Future[None]] = []
        self._runner: asyncio.Task[None] | None = None

    async def now(self, user: str, device: str) -> None:
        """Refreshed once this returns; a store away is logged, not raised."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        self.later(user, device)
        await done

    def later(self, user: str, device: str) -> None:
        self._due[(user, device)] = None
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())

    def forget(self, user: str, device: str) -> None:
        self._due.pop((user, device), None)

    async def _run(self) -> None:
        try:
            while self._due:
                devices, self._due = list(self._due), {}
                waiting, self._waiting = self._waiting, []
                try:
                    await self.store.touch(devices, self.ttl)
                except Exception as error:  # presence is best effort: it expires by itself
                    log.info("presence of %d devices not refreshed: %s", len(devices), error)
                for done in waiting:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._runner = None


class PresenceKeeper:
    """One connection's presence."""

    def __init__(self, refreshes: Refreshes, user: str, device: str):
        self.refreshes = refreshes
        self.user = user
        self.device = device
        self.due = float("inf")  # the monotonic time of the next refresh

    async def touch(self) -> None:
        self.due = time.monotonic() + self.refreshes.ttl / 3
        await self.refreshes.now(self.user, self.device)

    def refresh_if_due(self, now: float) -> None:
        """Refresh in the background once due (a clock tick must not wait on the store)."""
        if now > self.due:
            self.due = now + self.refreshes.ttl / 3
            self.refreshes.later(self.user, self.device)

    async def drop(self) -> None:
        self.due = float("inf")
        self.refreshes.forget(self.user, self.device)
        with contextlib.suppress(Exception):  # presence expires by itself anyway
            await self.refreshes.store.drop(self.user, self.device)
