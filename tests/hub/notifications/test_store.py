"""The FeedStore protocol, one contract for both backends."""

import asyncio
import uuid

from backends import store_fixture
from hutch.hub.notifications.memory import MemoryFeeds
from hutch.hub.notifications.model import Notification, new_id
from hutch.hub.notifications.redis import RedisFeeds
from hutch.hub.notifications.rollups import Rule
from hutch.hub.notifications.store import FeedStore

store = store_fixture(MemoryFeeds, RedisFeeds)


def user() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def made(n: int, category: str = "like", **properties: str) -> Notification:
    """The n-th of a series, one second apart: ids in the order of n."""
    moment = 1_700_000_000 + n
    return Notification(new_id(moment), category, f"n{n}", moment, dict(properties))


async def test_newest_first_within_bounds_and_the_oldest_dropped_past_the_limit(store: FeedStore) -> None:
    me = user()
    items = [made(n) for n in range(12)]
    for item in items:
        await store.add(me, item, limit=10)
    kept = [item.id for item in reversed(items[2:])]  # the two oldest went
    assert [n.id for n in await store.chunk(me, None, True, None, True, 100)] == kept
    assert [n.id for n in await store.chunk(me, kept[3], False, None, True, 3)] == kept[4:7]
    assert [n.id for n in await store.chunk(me, kept[3], True, kept[5], False, 9)] == kept[3:5]
    assert await store.get(me, items[0].id) is None and (await store.get(me, items[5].id)) == items[5]


async def test_the_cursor_counts_the_unseen_and_never_goes_back(store: FeedStore) -> None:
    me = user()
    items = [made(n) for n in range(5)]
    counts = [await store.add(me, item, limit=1000) for item in items]
    assert counts == [1, 2, 3, 4, 5] and await store.seen_up_to(me) is None
    await store.see(me, items[3].id)
    await store.see(me, items[1].id)  # an older page read later: the cursor stays
    assert await store.seen_up_to(me) == items[3].id and await store.unseen(me) == 1
    await store.delete(me, [items[4].id, "0" * 27])
    assert await store.unseen(me) == 0
    await store.clear(me)
    assert await store.chunk(me, None, True, None, True, 10) == [] and await store.seen_up_to(me) is None


async def test_concurrent_adds_keep_the_limit(store: FeedStore) -> None:
    me = user()
    await asyncio.gather(*(store.add(me, Notification.new("like", f"n{n}"), limit=50) for n in range(120)))
    assert len(await store.chunk(me, None, True, None, True, 1000)) == 50


async def test_rules_and_muted_categories(store: FeedStore) -> None:
    category, me = f"c{uuid.uuid4().hex[:6]}", user()
    await store.put_rule(category, Rule(9, "12 hours"))
    assert (await store.rules())[category] == Rule(9, "12 hours")
    assert await store.delete_rule(category) is True and await store.delete_rule(category) is False
    await store.mute(me, ["like", "comment", "like"])
    assert await store.muted(me) == ["comment", "like"]
    await store.mute(me, [])
    assert await store.muted(me) == []
