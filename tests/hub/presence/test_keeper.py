"""Connections' presence: refreshes that fall due together go to the store together."""

import asyncio
import time

from hutch.hub.presence.keeper import PresenceKeeper, Refreshes
from hutch.hub.presence.memory import MemoryPresence
from hutch.hub.store.errors import StoreUnavailable


class CountingPresence(MemoryPresence):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.drops: list[int] = []
        self.away = False

    async def touch(self, devices: list[tuple[str, str]], ttl: float) -> None:
        await asyncio.sleep(0)  # a round trip
        if self.away:
            raise StoreUnavailable("Redis is away")
        self.calls.append(len(devices))
        await super().touch(devices, ttl)

    async def drop(self, devices: list[tuple[str, str]]) -> None:
        await asyncio.sleep(0)
        self.drops.append(len(devices))
        await super().drop(devices)


async def test_connections_due_together_are_refreshed_in_one_round_trip() -> None:
    store = CountingPresence()
    refreshes = Refreshes(store, ttl=0.3)
    keepers = [PresenceKeeper(refreshes, f"u{n}", "phone") for n in range(50)]
    await asyncio.gather(*(keeper.touch() for keeper in keepers))  # logins made together
    assert sum(store.calls) == 50 and len(store.calls) <= 2
    assert await store.online(["u0", "u49"]) == {"u0": 1, "u49": 1}

    store.calls.clear()
    await asyncio.sleep(0.15)  # a third of the time to live has gone: all are due
    now = time.monotonic()
    for keeper in keepers:
        keeper.refresh_if_due(now + 1)  # in one clock tick
    await asyncio.sleep(0.2)
    assert store.calls == [50]
    assert (await store.online(["u0", "u49"]))["u49"] == 1  # past the first time to live

    await asyncio.gather(*(keeper.drop() for keeper in keepers))  # a network dropped them all
    assert sum(store.drops) == 50 and len(store.drops) <= 2
    assert await store.online(["u0", "u49"]) == {"u0": 0, "u49": 0}


async def test_a_dropped_connection_is_not_refreshed_and_a_store_away_is_not_raised() -> None:
    store = CountingPresence()
    refreshes = Refreshes(store, ttl=60)
    gone, kept = PresenceKeeper(refreshes, "gone", "phone"), PresenceKeeper(refreshes, "kept", "phone")
    await asyncio.gather(gone.touch(), kept.touch())
    gone.due = kept.due = 0.0
    gone.refresh_if_due(1.0)
    kept.refresh_if_due(1.0)
    await gone.drop()  # before its refresh went out
    await asyncio.sleep(0.05)
    assert await store.online(["gone", "kept"]) == {"gone": 0, "kept": 1}
    store.away = True
    await kept.touch()  # logged, not raised: presence expires by itself
