"""The embedded `PresenceStore`, in process memory."""

from __future__ import annotations

import time
from collections import defaultdict

from hutch.hub.presence.store import Device


class MemoryPresence:
    def __init__(self) -> None:
        self._until: defaultdict[str, dict[str, float]] = defaultdict(dict)  # user -> device -> expiry

    async def touch(self, devices: list[Device], ttl: float) -> None:
        until = time.monotonic() + ttl
        for user, device in devices:
            self._until[user][device] = until

    async def drop(self, devices: list[Device]) -> None:
        for user, device in devices:
            online = self._until.get(user)
            if online is not None:
                online.pop(device, None)
                if not online:
                    del self._until[user]

    async def online(self, users: list[str]) -> dict[str, int]:
        now = time.monotonic()
        return {u: sum(1 for expiry in self._until.get(u, {}).values() if expiry > now) for u in users}
