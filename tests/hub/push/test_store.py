"""The DeviceStore protocol, one contract for both backends."""

import uuid

from backends import store_fixture
from hutch.hub.push.devices import Device
from hutch.hub.push.memory import MemoryDevices
from hutch.hub.push.redis import RedisDevices
from hutch.hub.push.store import DeviceStore

store = store_fixture(MemoryDevices, RedisDevices)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_devices_are_registered_once_listed_and_removed(store: DeviceStore) -> None:
    user = fresh("ana")
    phone = Device("d1", user, "ios", "apns-token")
    browser = Device("d2", user, "webpush", "https://push.example/abc", {"p256dh": "k", "auth": "a"})
    assert await store.add(phone) is True
    assert await store.add(browser) is True
    assert await store.add(phone) is False
    assert sorted(d.id for d in await store.of(user)) == ["d1", "d2"]
    assert [d.keys for d in await store.of(user) if d.id == "d2"] == [{"p256dh": "k", "auth": "a"}]
    assert await store.remove(user, "d1") is True
    assert await store.remove(user, "d1") is False
    assert [d.id for d in await store.of(user)] == ["d2"]
    assert await store.of(fresh("nobody")) == []
