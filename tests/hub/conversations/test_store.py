"""The ConversationStore protocol, one contract for both backends."""

import asyncio
import uuid

import pytest
from backends import REDIS_URL, STORES, store_fixture
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation, id_key
from hutch.hub.conversations.redis import RedisConversationStore
from hutch.hub.conversations.store import ConversationStore
from hutch.hub.errors import Forbidden
from hutch.hub.store.errors import StoreUnavailable
from hutch.hub.store.redis import connect
from private_redis import lone_redis
from redis.exceptions import ConnectionError as RedisConnectionError

store = store_fixture(
    lambda: MemoryConversationStore(history_limit=5),
    lambda redis: RedisConversationStore(redis, history_limit=5),
)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_conversations_by_member_newest_first_and_pairs(store: ConversationStore) -> None:
    ana, bo, cy = fresh("ana"), fresh("bo"), fresh("cy")
    one, two = fresh("c-b"), fresh("c-a")  # the newer one sorts first by time only, not by name
    await store.put_conversation(Conversation(one, "ana+bo", [ana, bo]))
    await asyncio.sleep(0.01)
    await store.put_conversation(Conversation(two, "group", [ana, bo, cy], owner=ana, group=True))
    assert await store.conversations_of(ana) == [two, one]
    await asyncio.sleep(0.01)
    await store.append(one, bo, {"data": {"text": "hi"}}, None)
    assert await store.conversations_of(ana) == [one, two]
    assert await store.pair(bo, ana) == one
    assert await store.pair(ana, cy) is None
    group = await store.conversation(two)
    assert group is not None and group.owner == ana
    group.members.remove(cy)
    await store.put_conversation(group)
    assert await store.conversations_of(cy) == []
    await store.delete_conversation(one)
    assert await store.conversation(one) is None
    assert await store.conversations_of(ana) == [two]


async def test_history_is_time_ordered_capped_and_says_when_a_gap_was_dropped(
    store: ConversationStore,
) -> None:
    cid = fresh("c")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    ids = [(await store.append(cid, "a", {"n": n}, None))[0] for n in range(8)]
    assert ids == sorted(ids, key=id_key)
    latest = await store.history(cid, limit=10)
    assert [m.message["n"] for m in latest.messages] == [3, 4, 5, 6, 7]  # capped at 5
    page = await store.history(cid, before=ids[6], limit=2)
    assert [m.message["n"] for m in page.messages] == [4, 5]
    since = await store.history(cid, after=ids[4], limit=10)
    assert ([m.message["n"] for m in since.messages], since.complete) == ([5, 6, 7], True)
    gap = await store.history(cid, after=ids[1], limit=10)
    assert gap.complete is False


@pytest.mark.parametrize("backend", STORES)
async def test_a_uuid_is_remembered_for_a_while_only(backend: str) -> None:
    """A day by default; here a fifth of a second. After it a uuid is new again, and the
    embedded store no longer holds it (its memory does not grow with every message ever sent)."""
    redis = connect(REDIS_URL)
    store: ConversationStore = (
        RedisConversationStore(redis, uuid_memory=0.2)
        if backend == "redis"
        else MemoryConversationStore(uuid_memory=0.2)
    )
    try:
        cid, message_uuid = fresh("c"), fresh("u")
        first, _ = await store.append(cid, "a", {"uuid": message_uuid}, message_uuid)
        assert await store.first_send(message_uuid) is True
        assert await store.append(cid, "a", {"uuid": message_uuid}, message_uuid) == (first, False)
        assert await store.first_send(message_uuid) is False
        await asyncio.sleep(0.3)
        later, new = await store.append(cid, "a", {"uuid": message_uuid}, message_uuid)
        assert new and later != first
        assert await store.first_send(message_uuid) is True
        if isinstance(store, MemoryConversationStore):
            await asyncio.sleep(0.3)
            await store.append(cid, "a", {}, fresh("u"))  # storing forgets what expired
            assert len(store._stored_uuids._until) == 1  # type: ignore[attr-defined]
    finally:
        await redis.aclose()


async def test_a_uuid_is_stored_once(store: ConversationStore) -> None:
    cid, message_uuid = fresh("c"), fresh("u")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    first = await store.append(cid, "a", {"uuid": message_uuid}, message_uuid)
    again = await store.append(cid, "a", {"uuid": message_uuid}, message_uuid)
    assert first[1] is True and again == (first[0], False)
    assert len((await store.history(cid)).messages) == 1
    assert await store.first_send(message_uuid) is True
    assert await store.first_send(message_uuid) is False


async def test_a_message_stored_until_sent_is_to_be_sent_again_until_marked_sent(
    store: ConversationStore,
) -> None:
    """A node that stored a message and died before it published it, or that lost Redis's answer
    and tried again, has not sent it: the retry hears "send it", with the id it has."""
    cid, message_uuid, other = fresh("c"), fresh("u"), fresh("u")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    first = await store.append(cid, "a", {"uuid": message_uuid}, message_uuid, until_sent=True)
    assert first[1] is True
    assert await store.append(cid, "a", {"uuid": message_uuid}, message_uuid, until_sent=True) == first
    [together] = await store.append_many([(cid, "a", {"uuid": message_uuid}, message_uuid)], until_sent=True)
    assert together == first
    await store.mark_sent(message_uuid, "1-1")  # not its id: a claim made since is not touched
    assert await store.append(cid, "a", {"uuid": message_uuid}, message_uuid, until_sent=True) == first
    await store.mark_sent(message_uuid, first[0])
    assert await store.append(cid, "a", {"uuid": message_uuid}, message_uuid, until_sent=True) == (
        first[0],
        False,
    )
    # Stored as the worker stores it, a uuid is sent already (RabbitMQ delivered the message).
    stored = await store.append(cid, "b", {"uuid": other}, other)
    assert await store.append(cid, "b", {"uuid": other}, other, until_sent=True) == (stored[0], False)
    assert [m.id for m in (await store.history(cid)).messages] == [first[0], stored[0]]


async def test_several_are_stored_together_in_order_each_uuid_once(store: ConversationStore) -> None:
    cid, before, again = fresh("c"), fresh("u"), fresh("u")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    (earlier, _) = await store.append(cid, "a", {"n": 0}, before)
    messages = [(cid, "a", {"n": 1}, again), (cid, "b", {"n": 2}, None), (cid, "a", {"n": 1}, again)]
    answers = await store.append_many([*messages, (cid, "a", {"n": 0}, before)])
    (one, new_one), (two, new_two), (repeat, new_repeat), (old, new_old) = answers  # type: ignore[misc]
    assert (new_one, new_two, new_repeat, new_old) == (True, True, False, False)
    assert id_key(earlier) < id_key(one) < id_key(two) and repeat == one and old == earlier
    history = await store.history(cid)
    assert [(m.id, m.sender, m.message["n"]) for m in history.messages] == [
        (earlier, "a", 0),
        (one, "a", 1),
        (two, "b", 2),
    ]


async def test_members_only_stores_a_members_message_and_refuses_anyone_else(
    store: ConversationStore,
) -> None:
    cid, gone = fresh("c"), fresh("c")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    with pytest.raises(Forbidden, match=f"eve is not a participant of conversation '{cid}'"):
        await store.append(cid, "eve", {"n": 0}, fresh("u"), members_only=True)
    with pytest.raises(Forbidden, match=f"a is not a participant of conversation '{gone}'"):
        await store.append(gone, "a", {"n": 0}, None, members_only=True)  # no such conversation
    answers = await store.append_many(
        [(cid, "a", {"n": 1}, None), (cid, "eve", {"n": 2}, None), (cid, "b", {"n": 3}, None)],
        members_only=True,
    )
    assert answers[1] is None and answers[0] is not None and answers[2] is not None
    await store.append(cid, "eve", {"n": 4}, None)  # what RabbitMQ routed: stored as it came
    assert [m.message["n"] for m in (await store.history(cid)).messages] == [1, 3, 4]


async def test_redis_refusing_one_of_several_stores_the_others() -> None:
    """The worker then tries the refused one alone (and dead-letters it if Redis refuses again)."""
    redis = connect(REDIS_URL)
    store = RedisConversationStore(redis)
    try:
        good, bad = fresh("c"), fresh("c")
        await redis.set(f"hutch:history:{bad}", "not a stream")  # XADD answers WRONGTYPE
        answers = await store.append_many(
            [(good, "a", {"n": 1}, None), (bad, "a", {"n": 2}, None), (good, "a", {"n": 3}, None)]
        )
        assert answers[1] is None and answers[0] is not None and answers[2] is not None
        assert [m.message["n"] for m in (await store.history(good)).messages] == [1, 3]
    finally:
        await redis.aclose()


async def test_conversations_from_before_activity_keys_keep_their_order_on_redis() -> None:
    """A hub upgraded from one that ordered each member's list by its own scores: the first
    read orders by those scores and keeps them as the conversations' activity."""
    redis = connect(REDIS_URL)
    store = RedisConversationStore(redis)
    try:
        ana, bo = fresh("ana"), fresh("bo")
        older, newer, keyed = fresh("c-b"), fresh("c-a"), fresh("c-c")  # names sort against age
        for cid in (older, newer, keyed):
            await store.put_conversation(Conversation(cid, cid, [ana, bo], created=150.0))
        await redis.delete(f"hutch:active:{older}", f"hutch:active:{newer}")  # as before the keys
        await redis.zadd(f"hutch:user:{ana}:convs", {older: 100.0, newer: 200.0})
        assert await store.conversations_of(ana) == [newer, keyed, older]
        assert await redis.get(f"hutch:active:{newer}") == "200.0"
        await store.append(older, bo, {"data": {"text": "back"}}, None)
        assert await store.conversations_of(bo) == [older, newer, keyed]
    finally:
        await redis.aclose()


async def test_a_sent_mark_on_redis_goes_with_the_next_appends_or_alone_soon_after() -> None:
    """A mark costs no round trip of its own when appends follow: it goes ahead of them, so a
    retry among them is a repeat. With none, it goes alone within moments; on close, at once."""
    redis = connect(REDIS_URL)
    store = RedisConversationStore(redis)
    rounds = []
    run = store.lane.run

    async def counted(commands: list) -> list:
        rounds.append(len(commands))
        return await run(commands)

    store.lane.run = counted  # type: ignore[method-assign]
    try:
        cid, sent, alone, last = fresh("c"), fresh("u"), fresh("u"), fresh("u")
        await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
        [first, second, third] = await store.append_many(
            [(cid, "a", {"n": n}, uuid) for n, uuid in enumerate([sent, alone, last])], until_sent=True
        )
        assert first and second and third
        rounds.clear()
        await store.mark_sent(sent, first[0])
        assert await store.append(cid, "a", {"n": 9}, sent, until_sent=True) == (first[0], False)
        assert rounds == [2]  # the mark and the retry, in one round trip

        await store.mark_sent(alone, second[0])
        for _ in range(100):  # a moment later, with no append to go with
            if await redis.get(f"hutch:stored:{alone}") == second[0]:
                break
            await asyncio.sleep(0.01)
        assert await redis.get(f"hutch:stored:{alone}") == second[0]

        await store.mark_sent(last, third[0])
        await store.close()
        assert await redis.get(f"hutch:stored:{last}") == third[0]
    finally:
        await redis.aclose()


async def test_sent_marks_whose_round_trip_failed_go_again() -> None:
    redis = connect(REDIS_URL)
    store = RedisConversationStore(redis)
    try:
        cid, sent = fresh("c"), fresh("u")
        await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
        [stored] = await store.append_many([(cid, "a", {"n": 1}, sent)], until_sent=True)
        assert stored is not None
        await store.mark_sent(sent, stored[0])
        run = store.lane.run

        async def lost_once(commands: list) -> list:
            store.lane.run = run  # type: ignore[method-assign]
            raise RedisConnectionError("the connection to Redis was lost")

        store.lane.run = lost_once  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailable):
            await store.append(cid, "a", {"n": 2}, None)  # the mark went with it, and was lost
        for _ in range(100):
            if await redis.get(f"hutch:stored:{sent}") == stored[0]:
                break
            await asyncio.sleep(0.01)
        assert await redis.get(f"hutch:stored:{sent}") == stored[0]
        assert await store.append(cid, "a", {"n": 1}, sent, until_sent=True) == (stored[0], False)
    finally:
        await store.close()
        await redis.aclose()


async def test_messages_are_stored_on_a_redis_that_lost_its_scripts() -> None:
    """A Redis restarted or failed over has not the append script: it is loaded, and the batch
    stored once, in order."""
    with lone_redis() as port:
        redis = connect(f"redis://127.0.0.1:{port}/0")
        store = RedisConversationStore(redis)
        try:
            for _ in range(2):  # the fresh Redis, then one whose scripts were flushed
                cid = fresh("c")
                answers = await store.append_many([(cid, "a", {"n": n}, f"{cid}-{n}") for n in range(3)])
                assert all(answer is not None and answer[1] for answer in answers)
                assert [m.message["n"] for m in (await store.history(cid)).messages] == [0, 1, 2]
                await redis.script_flush()  # as a restart leaves it
        finally:
            await redis.aclose()


async def test_messages_no_replica_took_in_time_are_taken_back_out() -> None:
    """Stored on the primary alone, they are not kept: their retry (same uuid) is stored anew,
    not taken for a repeat, which a node storing on send would not send."""
    with lone_redis() as port:  # a primary with no replica: WAIT 1 times out
        redis = connect(f"redis://127.0.0.1:{port}/0")
        waiting = RedisConversationStore(redis, wait_for_replicas=(1, 0.05))
        alone = RedisConversationStore(redis)
        cid = fresh("c")
        try:
            await alone.append(cid, "a", {"n": 0}, f"{cid}-0")  # stored before: a repeat in the batch
            with pytest.raises(StoreUnavailable, match="0 of 1"):
                await waiting.append_many([(cid, "a", {"n": n}, f"{cid}-{n}") for n in range(3)])
            assert [m.message["n"] for m in (await waiting.history(cid)).messages] == [0]
            answers = await alone.append_many([(cid, "a", {"n": n}, f"{cid}-{n}") for n in range(3)])
            assert [answer[1] for answer in answers if answer] == [False, True, True]
            assert [m.message["n"] for m in (await alone.history(cid)).messages] == [0, 1, 2]
        finally:
            await redis.aclose()


async def test_a_send_that_did_not_go_through_is_forgotten(store: ConversationStore) -> None:
    """Its retry, with the same uuid, is a first send again (not a repeat to drop)."""
    message_uuid = fresh("u")
    assert await store.first_send(message_uuid) is True
    await store.forget_send(message_uuid)
    assert await store.first_send(message_uuid) is True
    assert await store.first_send(message_uuid) is False


async def test_unread_counts_follow_the_read_cursor(store: ConversationStore) -> None:
    cid = fresh("c")
    await store.put_conversation(Conversation(cid, "c", ["a", "b"]))
    ids = [(await store.append(cid, sender, {}, None))[0] for sender in ("a", "b", "a", "a")]
    assert await store.unread(cid, "b") == 3  # not its own
    assert await store.unread(cid, "a") == 1
    await store.mark_read(cid, "b", ids[2])
    assert await store.unread(cid, "b") == 1
    await store.mark_read(cid, "b", ids[0])  # never backwards
    assert await store.read_cursor(cid, "b") == ids[2]


async def test_one_stored_message_is_found_by_id(store: ConversationStore) -> None:
    cid = fresh("c")
    first, _ = await store.append(cid, "ana", {"data": {"text": "one"}}, None)
    second, _ = await store.append(cid, "bo", {"data": {"text": "two"}}, None)
    found = await store.message(cid, second)
    assert found is not None and found.sender == "bo" and found.message["data"]["text"] == "two"
    assert (await store.message(cid, first)) is not None
    assert await store.message(cid, "1-0") is None
    assert await store.message(cid, "99999999999999-0") is None
    assert await store.message(cid, "not an id") is None
    assert await store.message(fresh("c"), second) is None
