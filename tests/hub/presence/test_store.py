"""The PresenceStore protocol, one contract for both backends."""

import asyncio
import uuid

from backends import store_fixture
from hutch.hub.presence.memory import MemoryPresence
from hutch.hub.presence.redis import RedisPresence
from hutch.hub.presence.store import PresenceStore

store = store_fixture(MemoryPresence, RedisPresence)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_presence_expires(store: PresenceStore) -> None:
    ana, bo = fresh("ana"), fresh("bo")
    await store.touch([(ana, "phone"), (bo, "phone")], 60)
    await store.touch([(ana, "laptop")], 0.2)
    await store.drop([(bo, "phone")])
    assert await store.online([ana, bo]) == {ana: 2, bo: 0}
    await asyncio.sleep(0.3)
    assert await store.online([ana]) == {ana: 1}
