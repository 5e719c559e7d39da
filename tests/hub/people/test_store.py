"""The PeopleStore protocol, one contract for both backends."""

import uuid

from backends import store_fixture
from hutch.hub.people.memory import MemoryPeople
from hutch.hub.people.model import Person
from hutch.hub.people.redis import RedisPeople
from hutch.hub.people.store import PeopleStore

store = store_fixture(MemoryPeople, RedisPeople)


def run() -> str:
    """A prefix no other test run shares (the Redis store outlives a run)."""
    return f"p{uuid.uuid4().hex[:8]}"


async def test_a_profile_is_new_once_and_reads_back(store: PeopleStore) -> None:
    me = run()
    assert await store.get(me) is None
    assert await store.put(Person(me, "Ana Lima", "https://example.org/a.png", created=1.0)) is True
    assert await store.put(Person(me, "Ana L.", created=1.0)) is False
    assert await store.get(me) == Person(me, "Ana L.", created=1.0)
    await store.put(Person(me, "Ana L.", picture=True, hidden=True, created=1.0))
    assert await store.get(me) == Person(me, "Ana L.", picture=True, hidden=True, created=1.0)


async def test_search_matches_the_start_of_a_username_or_of_a_word_of_the_name(store: PeopleStore) -> None:
    tag = run()
    ana, bo, cy = f"{tag}ana", f"{tag}bo", f"{tag}cy"
    await store.put(Person(ana, f"Ana {tag}zed"))
    await store.put(Person(bo, "Bo Pérez"))
    await store.put(Person(cy, f"{tag}zed Cyrus"))
    assert [p.username for p in await store.search(tag, 10, include_hidden=False)] == [ana, bo, cy]
    assert [p.username for p in await store.search(f"{tag}zed", 10, include_hidden=False)] == [ana, cy]
    assert [p.username for p in await store.search(f"{tag}b", 10, include_hidden=False)] == [bo]
    assert [p.username for p in await store.search(tag, 2, include_hidden=False)] == [ana, bo]


async def test_a_renamed_person_is_no_longer_found_by_the_old_name(store: PeopleStore) -> None:
    tag = run()
    me = f"{tag}me"
    await store.put(Person(me, f"old{tag}"))
    await store.put(Person(me, f"new{tag}"))
    assert await store.search(f"old{tag}", 10, include_hidden=False) == []
    assert [p.username for p in await store.search(f"new{tag}", 10, include_hidden=False)] == [me]


async def test_hidden_people_are_found_only_when_asked_for(store: PeopleStore) -> None:
    tag = run()
    await store.put(Person(f"{tag}seen"))
    await store.put(Person(f"{tag}unseen", hidden=True))
    assert [p.username for p in await store.search(tag, 10, include_hidden=False)] == [f"{tag}seen"]
    assert len(await store.search(tag, 10, include_hidden=True)) == 2


async def test_names_of_other_scripts_are_searched_too(store: PeopleStore) -> None:
    tag = run()
    await store.put(Person(f"{tag}x", f"中{tag} Łu{tag}"))
    assert [p.username for p in await store.search(f"łu{tag}", 10, include_hidden=False)] == [f"{tag}x"]
    assert [p.username for p in await store.search(f"中{tag}", 10, include_hidden=False)] == [f"{tag}x"]
