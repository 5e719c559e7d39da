"""Appends of SENDs that arrive together go to the store together."""

import asyncio

import pytest
from hutch.hub.conversations import batching
from hutch.hub.conversations.batching import TogetherAppends
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation
from hutch.hub.errors import Forbidden
from hutch.hub.node import store_linger
from hutch.hub.settings import Settings
from hutch.hub.store.errors import StoreUnavailable


class CountingStore(MemoryConversationStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse: set[str] = set()
        self.away = False
        for cid in ("c1", "refused"):
            self._conversations[cid] = Conversation(cid, cid, ["ana", "bo"])

    async def append_many(self, messages, **flags):  # type: ignore[no-untyped-def]
        await self.gate.wait()
        if self.away:
            raise StoreUnavailable("Redis is away")
        self.batches.append(len(messages))
        answers = []
        for message in messages:
            refused = message[0] in self.refuse
            answers += [None] if refused else await super().append_many([message], **flags)
        return answers


async def test_appends_that_arrive_together_go_together_each_with_its_answer() -> None:
    store = CountingStore()
    appends = TogetherAppends(store)
    store.gate.clear()  # the first batch is on its way while the next gather
    first = asyncio.create_task(appends.append("c1", "ana", {"n": 0}, "u0"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(appends.append("c1", "ana", {"n": n}, f"u{n}")) for n in range(1, 6)]
    await asyncio.sleep(0)
    store.gate.set()
    answers = [await first, *await asyncio.gather(*rest)]
    assert store.batches == [1, 5]
    assert all(new for _, new in answers) and len({stored_id for stored_id, _ in answers}) == 6
    assert [m.message["n"] for m in (await store.history("c1")).messages] == [0, 1, 2, 3, 4, 5]
    # Stored until sent: to be sent again until it is marked sent, then a repeat.
    assert await appends.append("c1", "ana", {"n": 9}, "u3") == (answers[3][0], True)
    await store.mark_sent("u3", answers[3][0])
    assert await appends.append("c1", "ana", {"n": 9}, "u3") == (answers[3][0], False)


async def test_a_refused_one_is_tried_alone_and_a_store_away_is_told_to_each() -> None:
    store = CountingStore()
    appends = TogetherAppends(store)
    store.refuse = {"refused"}
    ok, alone = await asyncio.gather(
        appends.append("c1", "ana", {"n": 1}, None), appends.append("refused", "ana", {"n": 2}, None)
    )
    assert ok[1] and alone[1]  # the store took it alone
    with pytest.raises(Forbidden, match="eve is not a participant of conversation 'c1'"):
        await appends.append("c1", "eve", {"n": 3}, None)  # stored only from a member
    assert [m.message["n"] for m in (await store.history("c1")).messages] == [1]
    store.away = True
    results = await asyncio.gather(
        *(appends.append("c1", "ana", {"n": n}, None) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, StoreUnavailable) for result in results)


async def test_a_message_whose_sender_went_away_while_it_was_stored_is_taken_back() -> None:
    store = CountingStore()
    appends = TogetherAppends(store)
    store.gate.clear()
    gone = asyncio.create_task(appends.append("c1", "ana", {"n": 1}, "u1"))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.01)
    assert (await store.history("c1")).messages == []
    assert (await appends.append("c1", "ana", {"n": 1}, "u1"))[1]  # its retry is stored, and new


async def test_a_message_waits_for_the_other_senders_heard_from_lately_and_goes_with_them() -> None:
    store = CountingStore()
    appends = TogetherAppends(store, linger=10.0)
    await appends.append("c1", "ana", {"n": 0}, None)  # nobody else lately: at once
    bo = asyncio.create_task(appends.append("c1", "bo", {"n": 1}, None))
    await asyncio.sleep(0.05)
    assert not bo.done() and store.batches == [1]  # it lingers for ana's next
    await asyncio.wait_for(asyncio.gather(bo, appends.append("c1", "ana", {"n": 2}, None)), 1.0)
    assert store.batches == [1, 2]
    assert [m.message["n"] for m in (await store.history("c1")).messages] == [0, 1, 2]


async def test_a_lingering_batch_goes_once_enough_senders_wait() -> None:
    store = CountingStore()
    appends = TogetherAppends(store, linger=10.0)
    senders = [f"u{n}" for n in range(20)]
    store._conversations["c1"].members += senders
    await asyncio.gather(*(appends.append("c1", user, {"n": 0}, None) for user in senders))
    assert store.batches == [20]  # at once: nobody was heard from before
    await asyncio.wait_for(
        asyncio.gather(*(appends.append("c1", user, {"n": 1}, None) for user in senders[:16])), 1.0
    )
    assert store.batches == [20, 16]  # 16 of the 20 heard from lately: enough


async def test_a_lone_sender_waiting_for_each_answer_never_lingers() -> None:
    store = CountingStore()
    appends = TogetherAppends(store, linger=10.0)
    for n in range(5):
        await asyncio.wait_for(appends.append("c1", "ana", {"n": n}, None), 0.5)
    assert store.batches == [1, 1, 1, 1, 1]


async def test_a_message_after_a_quiet_moment_goes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "RECENT", 1)  # lately: within one linger
    store = CountingStore()
    appends = TogetherAppends(store, linger=1.0)
    await appends.append("c1", "ana", {"n": 0}, None)
    await asyncio.wait_for(appends.append("c1", "bo", {"n": 1}, None), 1.5)  # lingers for ana
    await asyncio.sleep(1.05)  # ana is not heard from within the linger
    await asyncio.wait_for(appends.append("c1", "bo", {"n": 2}, None), 0.5)
    assert store.batches == [1, 1, 1]


def test_the_linger_is_10_ms_on_rabbitmq_and_off_on_the_embedded_broker_unless_set() -> None:
    amqp = "amqp://guest:guest@127.0.0.1:5672/"
    assert store_linger(Settings(amqp_url=None, store_linger=None)) == 0.0
    assert store_linger(Settings(amqp_url=amqp, store_linger=None)) == 0.01
    assert store_linger(Settings(amqp_url=amqp, store_linger=0)) == 0.0
    assert store_linger(Settings(amqp_url=None, store_linger=0.002)) == 0.002
