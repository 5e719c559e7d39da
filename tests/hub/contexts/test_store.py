"""The ContextStore protocol, one contract for both backends."""

import uuid

from backends import store_fixture
from hutch.hub.contexts.memory import MemoryContexts
from hutch.hub.contexts.model import PRESETS, Context, Subscription, context_hash
from hutch.hub.contexts.redis import RedisContexts
from hutch.hub.contexts.store import ContextStore

store = store_fixture(MemoryContexts, RedisContexts)


def url() -> str:
    return f"https://example.org/{uuid.uuid4().hex[:10]}"


async def test_a_context_is_new_once_and_reads_back_by_its_hash(store: ContextStore) -> None:
    context = Context(url(), "Physics", ["course"], dict(PRESETS["open"]), "posts", "ana", "admin", 1.0)
    assert context.hash == context_hash(context.url)
    assert await store.put(context) is True
    assert await store.put(context) is False
    assert await store.get(context.hash) == context
    assert context.url in [c.url for c in await store.all()]


async def test_subscriptions_by_context_and_by_user_and_gone_with_the_context(store: ContextStore) -> None:
    one, two = Context(url()), Context(url())
    for context in (one, two):
        await store.put(context)
    ana, bo = f"ana{uuid.uuid4().hex[:6]}", f"bo{uuid.uuid4().hex[:6]}"
    assert await store.subscribe(Subscription(one.hash, ana, ["write"], [], 1.0)) is True
    assert await store.subscribe(Subscription(one.hash, ana, ["write", "flag"], ["read"], 1.0)) is False
    await store.subscribe(Subscription(one.hash, bo))
    await store.subscribe(Subscription(two.hash, ana))
    assert [s.username for s in await store.subscribers(one.hash)] == sorted([ana, bo])
    assert await store.subscription(one.hash, ana) == Subscription(
        one.hash, ana, ["write", "flag"], ["read"], 1.0
    )
    assert sorted(s.hash for s in await store.subscriptions_of(ana)) == sorted([one.hash, two.hash])
    assert await store.not_vetoed(ana, "read") == [two.hash]  # `read` vetoed in `one`
    assert await store.not_vetoed(ana, "kick") == sorted([one.hash, two.hash])
    found = await store.many([one.hash, two.hash, "0" * 40])
    assert found == {one.hash: await store.get(one.hash), two.hash: await store.get(two.hash)}
    assert (await store.subscription(one.hash, ana)).realtime is True
    await store.subscribe(
        Subscription(one.hash, ana, ["write", "flag"], ["read"], 1.0, realtime=False, push=False)
    )
    chosen = await store.subscription(one.hash, ana)
    assert (chosen.realtime, chosen.push) == (False, False)
    assert await store.unsubscribe(two.hash, ana) is True
    assert await store.unsubscribe(two.hash, ana) is False
    await store.delete(one.hash)
    assert await store.get(one.hash) is None
    assert await store.subscribers(one.hash) == []
    assert await store.subscriptions_of(ana) == [] and await store.subscriptions_of(bo) == []


async def test_a_stored_context_does_not_change_with_the_callers_copy(store: ContextStore) -> None:
    context = Context(url(), tags=["a"])
    await store.put(context)
    context.tags.append("b")
    assert (await store.get(context.hash)).tags == ["a"]
