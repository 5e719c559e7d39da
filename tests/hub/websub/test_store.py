"""The WebSubStore protocol, one contract for both backends."""

import uuid

from backends import store_fixture
from hutch.hub.websub.memory import MemoryWebSub
from hutch.hub.websub.model import Subscription
from hutch.hub.websub.redis import RedisWebSub
from hutch.hub.websub.store import WebSubStore

store = store_fixture(MemoryWebSub, RedisWebSub)


async def test_subscriptions_by_topic_replaced_and_expired(store: WebSubStore) -> None:
    topic = f"https://example.org/{uuid.uuid4().hex}"
    one = Subscription(topic, "https://a.example/cb?x=1", 60, 1_000.0, "s", 10.0)
    two = Subscription(topic, "https://b.example/cb", 60, 5_000.0)
    await store.put(one)
    await store.put(two)
    assert [s.callback for s in await store.of_topic(topic)] == [one.callback, two.callback]
    renewed = Subscription(topic, one.callback, 120, 2_000.0, "", 10.0)
    await store.put(renewed)
    assert await store.get(topic, one.callback) == renewed
    assert [s.callback for s in await store.expired(3_000.0) if s.topic == topic] == [one.callback]
    assert (
        await store.delete(topic, one.callback) is True and await store.delete(topic, one.callback) is False
    )
    assert await store.expired(3_000.0) == [] or all(s.topic != topic for s in await store.expired(3_000.0))


async def test_delivered_versions_are_remembered(store: WebSubStore) -> None:
    key = uuid.uuid4().hex
    assert await store.was_delivered(key, "v1") is False
    await store.delivered(key, "v1", ttl=60)
    assert await store.was_delivered(key, "v1") is True and await store.was_delivered(key, "v2") is False


async def test_held_retries_are_handed_out_once_when_due(store: WebSubStore) -> None:
    job = f'{{"callback": "{uuid.uuid4().hex}"}}'
    await store.hold(job, due=100.0)
    assert job not in await store.take_due(99.0, 1000)
    assert job in await store.take_due(100.0, 1000)
    assert job not in await store.take_due(200.0, 1000)  # taken once
