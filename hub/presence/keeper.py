"""Presence of connections: marked online at login, refreshed a third of the way into each
time to live, dropped when the connection goes. Best effort: an entry not refreshed expires.

A node's presence writes go to the store together (`Refreshes`): connections made together
fall due together, and many go together when a network drops them all; on Redis one round
trip for all of them costs little more than one alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hutch.hub.presence.store import Device, PresenceStore

log = logging.getLogger(__name__)


class Refreshes:
    """The node's presence writes: those asked for while one batch is on its way go as the next."""

    def __init__(self, store: PresenceStore, ttl: float):
        self.store = store
        self.ttl = ttl
        self._due: dict[Device, None] = {}  # ordered sets
        self._gone: dict[Device, None] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._runner: asyncio.Task[None] | None = None

    async def now(self, user: str, device: str) -> None:
        """Refreshed once this returns; a store away is logged, not raised."""
        self.later(user, device)
        await self._written()

    def later(self, user: str, device: str) -> None:
        self._due[(user, device)] = None
        self._start()

    async def drop(self, user: str, device: str) -> None:
        """Offline once this returns (unless the store is away: then it expires)."""
        self._due.pop((user, device), None)
        self._gone[(user, device)] = None
        self._start()
        await self._written()

    def _start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _written(self) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        await done

    async def _run(self) -> None:
        try:
            while self._due or self._gone:
                due, self._due = list(self._due), {}
                gone, self._gone = list(self._gone), {}
                waiting, self._waiting = self._waiting, []
                try:  # best effort: an entry not refreshed expires by itself
                    if due:
                        await self.store.touch(due, self.ttl)
                    if gone:
                        await self.store.drop(gone)
                except Exception as error:
                    log.info("presence of %d devices not written: %s", len(due) + len(gone), error)
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
        await self.refreshes.drop(self.user, self.device)
