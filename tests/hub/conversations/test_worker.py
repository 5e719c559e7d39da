"""The worker: stored once, a poison message dead-lettered after bounded retries."""

import asyncio

from backends import eventually
from hutch.hub.broker import topology
from hutch.hub.broker.base import Delivery, Message
from hutch.hub.broker.bodies import expanded
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation
from hutch.hub.conversations.worker import DEAD_LETTERS, STORED, Worker
from hutch.rules import Form, decode, encode


def coded(uuid: str, text: str) -> Message:
    """A chat message as a MAX client packs it."""
    body = encode({"uuid": uuid, "data": {"text": text}}, Form.PACKED_MSGPACK, "max@1")
    return Message(body, {"content-type": "application/x-hutch+msgpack; rules=max@1"})


async def device(broker: MemoryBroker, user: str) -> list[Delivery]:
    """What a device of `user` receives on the user's stream."""
    await broker.declare_queue(f"{user}-device")
    await broker.bind_queue(f"{user}-device", f"{user}.subscribe")
    seen: list[Delivery] = []
    await broker.consume(f"{user}-device", seen.append, no_ack=True)
    return seen


async def join(broker: MemoryBroker, store: MemoryConversationStore, cid: str, *users: str) -> None:
    """Members as the hub makes them: in the store, and bound in the broker."""
    await store.put_conversation(Conversation(cid, cid, list(users)))
    for user in users:
        await topology.add_member(broker, cid, user)


class BrokenStore(MemoryConversationStore):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def append(self, *args, **kwargs):
        self.attempts += 1
        raise OSError("disk full")


async def test_a_message_that_cannot_be_stored_is_dead_lettered_with_its_reason() -> None:
    broker, store = MemoryBroker(), BrokenStore()
    await topology.declare_base(broker)
    worker = Worker(broker, store)
    worker.retry_delays = (0.01, 0.01)
    await worker.start()
    await join(broker, store, "c1", "ana")
    await broker.publish("ana.publish", "c1.messages", coded("u1", "poison"))

    dead: list[Delivery] = []
    await broker.consume(DEAD_LETTERS, dead.append, no_ack=True)
    await eventually(lambda: len(dead) == 1)
    assert store.attempts == 4  # with what arrived with it, alone, then two retries: never for ever
    assert dead[0].message.headers["x-hutch-dead-reason"] == "OSError: disk full"
    assert dead[0].message.headers["x-hutch-routing-key"] == "c1.messages"
    await worker.stop()


async def test_stored_once_and_each_copy_acked_with_the_stored_id() -> None:
    broker, store = MemoryBroker(), MemoryConversationStore()
    await topology.declare_base(broker)
    worker = Worker(broker, store)
    await worker.start()
    await join(broker, store, "c1", "ana")
    seen = await device(broker, "ana")
    for _ in range(2):
        await broker.publish("ana.publish", "c1.messages", coded("u2", "hi"))
    # The repeat is acked too, with the same id: its first storing may have ended before its ack.
    await eventually(lambda: len([d for d in seen if d.routing_key == "c1.notifications"]) == 2)
    history = await store.history("c1")
    assert [m.message["data"]["text"] for m in history.messages] == ["hi"]
    for ack in [d for d in seen if d.routing_key == "c1.notifications"]:
        told = decode(ack.message.body, Form.PACKED_MSGPACK, "max@1")
        assert (told["action"], told["uuid"], told["data"]["id"]) == ("ack", "u2", history.messages[0].id)
        assert ack.message.headers[STORED] == "true"
    await worker.stop()


class RefusingOneConversation(MemoryConversationStore):
    async def append(self, cid, *args, **kwargs):
        if cid == "refused":
            raise OSError("disk full")
        return await super().append(cid, *args, **kwargs)


async def test_messages_stored_together_go_on_when_one_is_refused() -> None:
    broker, store = MemoryBroker(), RefusingOneConversation()
    await topology.declare_base(broker)
    worker = Worker(broker, store)
    worker.retry_delays = (0.01,)
    await join(broker, store, "c1", "ana")
    await join(broker, store, "refused", "ana")
    for n, cid in enumerate(["c1", "c1", "refused", "c1"]):  # queued before the worker starts: one batch
        await broker.publish("ana.publish", f"{cid}.messages", coded(f"u{n}", str(n)))
    dead: list[Delivery] = []
    await broker.declare_queue(DEAD_LETTERS, durable=True)
    await broker.consume(DEAD_LETTERS, dead.append, no_ack=True)
    await worker.start()
    await eventually(lambda: worker.counts["stored"] == 3 and len(dead) == 1)
    assert [m.message["data"]["text"] for m in (await store.history("c1")).messages] == ["0", "1", "3"]
    assert dead[0].message.headers["x-hutch-routing-key"] == "refused.messages"
    await worker.stop()


async def test_a_message_of_someone_who_is_not_a_member_is_neither_stored_nor_delivered() -> None:
    """The worker's queue takes what anyone publishes; the store keeps it only from a member."""
    broker, store = MemoryBroker(), MemoryConversationStore()
    await topology.declare_base(broker)
    worker = Worker(broker, store)
    await worker.start()
    await join(broker, store, "c1", "ana", "bob")
    await topology.declare_user(broker, "eve")  # a bot of her own, over AMQP
    await broker.declare_queue("bob-device")
    await broker.bind_queue("bob-device", "bob.subscribe")
    seen: list[Delivery] = []
    await broker.consume("bob-device", seen.append, no_ack=True)
    dead: list[Delivery] = []
    await broker.consume(DEAD_LETTERS, dead.append, no_ack=True)
    for sender, text in (("eve", "let me in"), ("ana", "hi")):
        await broker.publish(f"{sender}.publish", "c1.messages", coded(text, text))
    await eventually(lambda: worker.counts["stored"] == 1 and worker.counts["not a member"] == 1)
    assert [m.message["data"]["text"] for m in (await store.history("c1")).messages] == ["hi"]
    assert [expanded(d.message)["data"]["text"] for d in seen if d.routing_key == "c1.messages"] == ["hi"]
    assert dead == []  # not a poison message: dropped, as no member binding routed it
    assert await broker.queue_length(DEAD_LETTERS) == 0
    await worker.stop()


def test_what_is_stored_of_a_body_without_a_rule_set() -> None:
    assert expanded(Message(b' \n{"data": {"text": "hi"}, "x": 1}')) == {"data": {"text": "hi"}, "x": 1}
    assert expanded(Message(b"12:plain words")) == {"data": {"text": "12:plain words"}}
    assert expanded(Message(b"[1, 2]")) == {"data": {"text": "[1, 2]"}}
    assert expanded(Message(b"{not json")) == {"data": {"text": "{not json"}}


class StalledAcks(MemoryBroker):
    """The worker's "stored" acks do not go out while `stalled`: a worker stopped then never sends them."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = True

    async def publish(self, exchange: str, key: str, message: Message) -> None:
        if self.stalled and key.endswith(".notifications"):
            await asyncio.Event().wait()
        await super().publish(exchange, key, message)


async def test_a_worker_stopped_before_its_stored_ack_went_out_leaves_the_ack_to_the_next() -> None:
    broker, store = StalledAcks(), MemoryConversationStore()
    await topology.declare_base(broker)
    first = Worker(broker, store)
    await first.start()
    await join(broker, store, "c1", "ana")
    seen = await device(broker, "ana")
    await broker.publish("ana.publish", "c1.messages", coded("u3", "hi"))
    await eventually(lambda: first.counts["stored"] == 1)

    await first.stop()  # stored, its ack not out yet: a worker killed, or a node shut down
    broker.stalled = False
    second = Worker(broker, store)
    await second.start()
    await eventually(lambda: [d.routing_key for d in seen] == ["c1.messages", "c1.notifications"])
    assert len((await store.history("c1")).messages) == 1
    await second.stop()
