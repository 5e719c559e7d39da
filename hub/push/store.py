"""The `DeviceStore` protocol: the devices each user registered for push."""

from __future__ import annotations

from typing import Protocol

from hutch.hub.push.devices import Device


class DeviceStore(Protocol):
    async def add(self, device: Device) -> bool:
        """Register a device (True) or refresh one registered before (False)."""
        ...

    async def of(self, user: str) -> list[Device]: ...

    async def remove(self, user: str, device_id: str) -> bool:
        """Forget a device; False when the user had none by that id."""
        ...
