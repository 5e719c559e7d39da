"""The `PresenceStore` protocol: which devices of a user are online.

Each session refreshes its entry well within `presence_ttl`; an entry not refreshed
expires, so that the devices of a node that crashed go offline by themselves.
"""

from __future__ import annotations

from typing import Protocol

Device = tuple[str, str]  # (user, device)


class PresenceStore(Protocol):
    async def touch(self, devices: list[Device], ttl: float) -> None:
        """Each (user, device) is online for `ttl` seconds more."""
        ...

    async def drop(self, devices: list[Device]) -> None:
        """Each (user, device) is offline."""
        ...

    async def online(self, users: list[str]) -> dict[str, int]:
        """Devices online per user (entries not yet expired)."""
        ...
