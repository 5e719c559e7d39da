"""The Broker protocol's semantics, as RabbitMQ has them, on every backend."""

from collections.abc import AsyncIterator

import pytest
from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.broker.errors import BrokerUnavailable, NotFound, PreconditionFailed
from hutch.hub.broker.memory import MemoryBroker


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    backend = MemoryBroker()
    yield backend
    await backend.close()


class Inbox:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    @property
    def bodies(self) -> list[bytes]:
        return [d.message.body for d in self.deliveries]


async def consume(broker: Broker, queue: str, **options) -> Inbox:
    inbox = Inbox()
    await broker.consume(queue, inbox, **options)
    return inbox


async def test_default_exchange_routes_by_queue_name(broker: Broker) -> None:
    await broker.declare_queue("q1")
    inbox = await consume(broker, "q1", no_ack=True)
    await broker.publish("", "q1", Message(b"hi", {"x": "1"}))
    assert inbox.bodies == [b"hi"]
    assert (inbox.deliveries[0].exchange, inbox.deliveries[0].routing_key) == ("", "q1")
    assert inbox.deliveries[0].message.headers == {"x": "1"}


async def test_messages_wait_in_the_queue_for_a_consumer(broker: Broker) -> None:
    await broker.declare_queue("later", durable=True)
    await broker.publish("", "later", Message(b"1"))
    await broker.publish("", "later", Message(b"2"))
    inbox = await consume(broker, "later", no_ack=True)
    assert inbox.bodies == [b"1", b"2"]


async def test_exchange_types(broker: Broker) -> None:
    for name, kind in (("t", "topic"), ("d", "direct"), ("f", "fanout"), ("h", "headers")):
        await broker.declare_exchange(name, kind)
        await broker.declare_queue(f"q-{name}")
    await broker.bind_queue("q-t", "t", "a.#")
    await broker.bind_queue("q-d", "d", "k")
    await broker.bind_queue("q-f", "f", "")
    await broker.bind_queue("q-h", "h", "", {"kind": "chat"})
    inboxes = {n: await consume(broker, f"q-{n}", no_ack=True) for n in "tdfh"}
    await broker.publish("t", "a.b.c", Message(b"t1"))
    await broker.publish("t", "b.a", Message(b"t2"))
    await broker.publish("d", "k", Message(b"d1"))
    await broker.publish("d", "kk", Message(b"d2"))
    await broker.publish("f", "whatever", Message(b"f1"))
    await broker.publish("h", "", Message(b"h1", {"kind": "chat"}))
    await broker.publish("h", "", Message(b"h2", {"kind": "other"}))
    assert {n: i.bodies for n, i in inboxes.items()} == {
        "t": [b"t1"],
        "d": [b"d1"],
        "f": [b"f1"],
        "h": [b"h1"],
    }


async def test_exchange_to_exchange_gives_one_copy_per_queue(broker: Broker) -> None:
    await broker.declare_exchange("alice.publish", "topic")
    await broker.declare_exchange("conversations", "topic")
    await broker.declare_exchange("bob.subscribe", "fanout")
    await broker.bind_exchange("conversations", "alice.publish", "c1.*")
    await broker.bind_exchange("bob.subscribe", "conversations", "c1.*")
    await broker.bind_exchange("bob.subscribe", "alice.publish", "#")  # a second path
    await broker.declare_queue("bob")
    await broker.bind_queue("bob", "bob.subscribe")
    inbox = await consume(broker, "bob", no_ack=True)
    await broker.publish("alice.publish", "c1.messages", Message(b"hello"))
    await broker.publish("alice.publish", "c2.messages", Message(b"via # only"))
    assert inbox.bodies == [b"hello", b"via # only"]
    await broker.unbind_exchange("bob.subscribe", "alice.publish", "#")
    await broker.publish("alice.publish", "c2.messages", Message(b"gone"))
    assert inbox.bodies == [b"hello", b"via # only"]


async def test_round_robin_with_prefetch_and_requeue(broker: Broker) -> None:
    await broker.declare_queue("work")
    a = await consume(broker, "work", prefetch=1)
    b = await consume(broker, "work", prefetch=1)
    for body in (b"1", b"2", b"3"):
        await broker.publish("", "work", Message(body))
    assert (a.bodies, b.bodies) == ([b"1"], [b"2"])
    await a.deliveries[0].nack(requeue=True)
    assert a.bodies == [b"1", b"1"] and a.deliveries[1].redelivered
    await b.deliveries[0].ack()
    assert b.bodies == [b"2", b"3"]


async def test_cancel_requeues_unacked_and_auto_delete_goes(broker: Broker) -> None:
    await broker.declare_queue("shared")
    inbox = Inbox()
    consumer = await broker.consume("shared", inbox)
    await broker.publish("", "shared", Message(b"x"))
    await consumer.cancel()
    again = await consume(broker, "shared")
    assert again.bodies == [b"x"] and again.deliveries[0].redelivered

    name = await broker.declare_queue("", auto_delete=True)
    assert name.startswith("amq.gen-")
    consumer = await broker.consume(name, Inbox())
    await consumer.cancel()
    with pytest.raises(NotFound):
        await broker.declare_queue(name, passive=True)


async def test_a_closed_broker_says_it_is_unavailable() -> None:
    broker = MemoryBroker()
    await broker.declare_queue("mine", exclusive=True)
    await broker.close()
    with pytest.raises(BrokerUnavailable):
        await broker.declare_queue("mine", passive=True)


async def test_redeclare_with_other_flags_is_refused(broker: Broker) -> None:
    await broker.declare_exchange("x", "topic")
    with pytest.raises(PreconditionFailed):
        await broker.declare_exchange("x", "fanout")
    await broker.declare_queue("q", durable=True)
    with pytest.raises(PreconditionFailed):
        await broker.declare_queue("q", durable=False)


async def test_unknown_names_are_not_found(broker: Broker) -> None:
    with pytest.raises(NotFound):
        await broker.publish("nope", "k", Message(b""))
    with pytest.raises(NotFound):
        await broker.bind_queue("nope", "amq.topic", "k")
    with pytest.raises(NotFound):
        await broker.declare_queue("nope", passive=True)
    assert await broker.exchange_type("amq.topic") == "topic"
