"""The embedded `DeviceStore`, in process memory."""

from __future__ import annotations

from hutch.hub.push.devices import Device


class MemoryDevices:
    def __init__(self) -> None:
        self._devices: dict[str, dict[str, Device]] = {}  # user -> device id -> device

    async def add(self, device: Device) -> bool:
        mine = self._devices.setdefault(device.user, {})
        new = device.id not in mine
        mine[device.id] = device
        return new

    async def of(self, user: str) -> list[Device]:
        return list(self._devices.get(user, {}).values())

    async def remove(self, user: str, device_id: str) -> bool:
        mine = self._devices.get(user, {})
        removed = mine.pop(device_id, None) is not None
        if not mine:
            self._devices.pop(user, None)
        return removed
