"""The DirectStore protocol, one contract for both backends: preferences, the users a broadcast
reaches, and jobs claimed by one worker at a time, under a lease."""

import asyncio
import time
import uuid

from backends import store_fixture
from hutch.hub.direct.memory import MemoryDirect
from hutch.hub.direct.model import Job, Preferences
from hutch.hub.direct.redis import RedisDirect
from hutch.hub.direct.store import DirectStore
from hutch.hub.notifications.model import new_id

store = store_fixture(MemoryDirect, RedisDirect)


def user() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def job(author: str, due: float, kind: str = "send") -> Job:
    return Job(new_id(), kind, author, due, {"to": [author]})


async def forget(store: DirectStore, *jobs: Job) -> None:
    """The store is shared with the hubs of other tests: leave them nothing to run."""
    for each in jobs:
        await store.done(each.id)


async def test_preferences_are_the_defaults_until_set(store: DirectStore) -> None:
    me = user()
    assert await store.preferences(me) == Preferences()
    chosen = Preferences().changed({"email": "me@example.org", "mutes": {"conversation/c1": None}})
    await store.set_preferences(me, chosen)
    assert await store.preferences(me) == chosen
    assert await store.preferences(user()) == Preferences()


async def test_every_remembered_user_is_walked_once(store: DirectStore) -> None:
    users = [user() for _ in range(30)]
    for name in users:
        await store.remember(name)
        await store.remember(name)  # again: no twice
    seen, cursor = [], ""
    while True:
        page, cursor = await store.users(cursor, 7)
        seen += page
        if not cursor:
            break
    assert set(users) <= set(seen) and len([name for name in seen if name in users]) == len(users)


async def test_a_job_is_claimed_at_its_time_by_one_claimer(store: DirectStore) -> None:
    me, now = user(), time.time()
    soon, later = job(me, now - 1), job(me, now + 3600)
    await store.schedule(soon)
    await store.schedule(later)
    claims = await asyncio.gather(*(store.claim_due(now, 30, 1000) for _ in range(5)))
    mine = [claimed for each in claims for claimed in each if claimed.author == me]
    assert [claimed.id for claimed in mine] == [soon.id]  # once, and not the later one
    assert await store.claim(soon.id, now, 30) is None  # held
    assert await store.claim(later.id, now, 30) is None  # not due
    await forget(store, soon, later)


async def test_a_claim_that_is_never_done_is_free_again_when_its_lease_ends(store: DirectStore) -> None:
    me, now = user(), time.time()
    lost = job(me, now - 1)
    await store.schedule(lost)
    assert await store.claim(lost.id, now, 2) == lost  # its claimer dies holding it
    assert lost.id not in [claimed.id for claimed in await store.claim_due(now + 1, 2, 1000)]
    again = await store.claim_due(now + 2.5, 2, 1000)
    assert lost.id in [claimed.id for claimed in again]
    await store.done(lost.id)
    assert lost.id not in [claimed.id for claimed in await store.claim_due(now + 100, 2, 1000)]


async def test_authors_list_and_cancel_only_their_own(store: DirectStore) -> None:
    ana, bob, now = user(), user(), time.time()
    first, second, bobs = job(ana, now + 20), job(ana, now + 10), job(bob, now + 5)
    for each in (first, second, bobs):
        await store.schedule(each)
    assert [found.id for found in await store.of_author(ana)] == [second.id, first.id]  # soonest first
    assert not await store.cancel(bob, first.id)
    assert await store.cancel(ana, first.id)
    assert not await store.cancel(ana, first.id)
    assert [found.id for found in await store.of_author(ana)] == [second.id]
    assert first.id not in [claimed.id for claimed in await store.claim_due(now + 100, 2, 1000)]
    await forget(store, second, bobs)


async def test_a_dispatched_send_is_kept_a_while(store: DirectStore) -> None:
    sent = job(user(), time.time())
    await store.keep_sent(sent, 60)
    assert await store.sent(sent.id) == sent
    assert await store.sent(new_id()) is None
