"""The Broker protocol's semantics, as RabbitMQ has them, on every backend."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from backends import AMQP_URL, BROKERS, eventually
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.broker.errors import BrokerUnavailable, NotFound, PreconditionFailed
from hutch.hub.broker.memory import MemoryBroker
from topic_shapes import AFTER, BEFORE, EXPECTED, GONE, SHAPES

QUEUES = (
    "q1",
    "later",
    "q-t",
    "q-d",
    "q-f",
    "q-h",
    "bob",
    "work",
    "shared",
    "q",
    "ordered",
    *(f"shape-{i}" for i in range(len(SHAPES))),
)
EXCHANGES = ("t", "d", "f", "h", "alice.publish", "conversations", "bob.subscribe", "x")


class Names:
    """Names unique to one test, so that runs against a long-lived RabbitMQ never meet."""

    def __init__(self) -> None:
        self.prefix = f"test-{uuid.uuid4().hex[:8]}"

    def __call__(self, name: str) -> str:
        return f"{self.prefix}-{name}"


@pytest.fixture
def n() -> Names:
    return Names()


@pytest.fixture(params=BROKERS)
async def broker(request: pytest.FixtureRequest, n: Names) -> AsyncIterator[Broker]:
    if request.param == "memory":
        memory = MemoryBroker()
        yield memory
        await memory.close()
        return
    amqp = AmqpBroker(AMQP_URL)
    await amqp.connect()
    yield amqp
    await amqp.close()
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    for name in QUEUES:
        await channel.queue_delete(n(name))
    for name in EXCHANGES:
        await channel.exchange_delete(n(name))
    await connection.close()


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


async def test_default_exchange_routes_by_queue_name(broker: Broker, n: Names) -> None:
    await broker.declare_queue(n("q1"))
    inbox = await consume(broker, n("q1"), no_ack=True)
    await broker.publish(
        "", n("q1"), Message(b"hi", {"x-app": "1", "persistent": "true", "reply-to": "/queue/r"})
    )
    await eventually(lambda: inbox.bodies == [b"hi"])
    delivery = inbox.deliveries[0]
    assert (delivery.exchange, delivery.routing_key) == ("", n("q1"))
    assert delivery.message.headers == {"x-app": "1", "persistent": "true", "reply-to": "/queue/r"}


async def test_stomp_headers_that_are_amqp_properties_come_back_the_same(broker: Broker, n: Names) -> None:
    headers = {
        "content-type": "text/plain", "content-encoding": "identity", "correlation-id": "c-1",
        "type": "greeting", "app-id": "bot", "priority": "5", "persistent": "true", "x-own": "yes",
    }  # fmt: skip
    await broker.declare_queue(n("q1"))
    inbox = await consume(broker, n("q1"), no_ack=True)
    await broker.publish("", n("q1"), Message(b"hi", headers))
    await eventually(lambda: len(inbox.deliveries) == 1)
    assert inbox.deliveries[0].message.headers == headers


async def test_expiration_is_in_milliseconds_on_rabbitmq(n: Names) -> None:
    amqp = AmqpBroker(AMQP_URL)
    await amqp.connect()
    try:
        await amqp.declare_queue(n("later"))
        await amqp.publish("", n("later"), Message(b"gone", {"expiration": "1"}))
        await amqp.publish("", n("later"), Message(b"kept", {"expiration": "60000"}))
        await asyncio.sleep(0.2)
        inbox = await consume(amqp, n("later"), no_ack=True)
        await eventually(lambda: inbox.bodies == [b"kept"])
    finally:
        await amqp.delete_queue(n("later"))
        await amqp.close()


async def test_consumers_go_on_after_rabbitmq_closes_their_channel(n: Names) -> None:
    """RabbitMQ closes a channel on an error (here: an ack of a tag it never gave); aio-pika
    opens it again and the hub's consumers of queues it did not declare (those go on the lane
    otherwise: test_amqp_lane) start again on it, acks and all."""
    amqp = AmqpBroker(AMQP_URL)
    await amqp.connect()
    outside = await aio_pika.connect(AMQP_URL)
    try:
        await (await outside.channel()).declare_queue(n("q1"))
        inbox = await consume(amqp, n("q1"), prefetch=10)
        await amqp.publish("", n("q1"), Message(b"before"))
        await eventually(lambda: inbox.bodies == [b"before"])
        await inbox.deliveries[0].ack()
        channel = inbox.deliveries[0]._channel  # type: ignore[attr-defined]
        await channel.basic_ack(999_999)  # RabbitMQ answers by closing the channel
        await eventually(lambda: channel.is_closed)
        await amqp.publish("", n("q1"), Message(b"after"))
        await eventually(lambda: inbox.bodies == [b"before", b"after"], timeout=10)
        await inbox.deliveries[1].ack()
        await amqp.publish("", n("q1"), Message(b"acked on the new channel"))
        await eventually(lambda: len(inbox.bodies) == 3)
        reopened = inbox.deliveries[1]._channel  # type: ignore[attr-defined]
        assert reopened is not channel and not reopened.is_closed  # the ack's tag was the new channel's
    finally:
        await outside.close()
        await amqp.delete_queue(n("q1"))
        await amqp.close()


async def test_a_queue_deleted_from_outside_does_not_stop_the_other_consumers(n: Names) -> None:
    amqp = AmqpBroker(AMQP_URL)
    await amqp.connect()
    outside = await aio_pika.connect(AMQP_URL)
    try:
        channel = await outside.channel()
        # Not the hub's (it consumes them as it finds them, on the robust connection).
        await channel.declare_queue(n("q"))
        await channel.declare_queue(n("q1"))
        await consume(amqp, n("q"), prefetch=10)
        kept = await consume(amqp, n("q1"), prefetch=10)
        await channel.queue_delete(n("q"))
        await amqp.publish("", n("q1"), Message(b"before"))
        await eventually(lambda: kept.bodies == [b"before"])
        await kept.deliveries[0].ack()
        await kept.deliveries[0]._channel.basic_ack(999_999)  # type: ignore[attr-defined]  # the channel closes
        await amqp.publish("", n("q1"), Message(b"after"))
        await eventually(lambda: kept.bodies == [b"before", b"after"], timeout=10)
        assert amqp.connected
    finally:
        await outside.close()
        await amqp.delete_queue(n("q1"))
        await amqp.close()


async def test_messages_wait_in_the_queue_for_a_consumer(broker: Broker, n: Names) -> None:
    await broker.declare_queue(n("later"), durable=True)
    await broker.publish("", n("later"), Message(b"1"))
    await broker.publish("", n("later"), Message(b"2"))
    inbox = await consume(broker, n("later"), no_ack=True)
    await eventually(lambda: inbox.bodies == [b"1", b"2"])


async def test_exchange_types(broker: Broker, n: Names) -> None:
    for name, kind in (("t", "topic"), ("d", "direct"), ("f", "fanout"), ("h", "headers")):
        await broker.declare_exchange(n(name), kind)
        await broker.declare_queue(n(f"q-{name}"))
        assert await broker.exchange_type(n(name)) == kind
    await broker.bind_queue(n("q-t"), n("t"), "a.#")
    await broker.bind_queue(n("q-d"), n("d"), "k")
    await broker.bind_queue(n("q-f"), n("f"), "")
    await broker.bind_queue(n("q-h"), n("h"), "", {"kind": "chat"})
    inboxes = {name: await consume(broker, n(f"q-{name}"), no_ack=True) for name in "tdfh"}
    await broker.publish(n("t"), "a.b.c", Message(b"t1"))
    await broker.publish(n("t"), "b.a", Message(b"t2"))
    await broker.publish(n("d"), "k", Message(b"d1"))
    await broker.publish(n("d"), "kk", Message(b"d2"))
    await broker.publish(n("f"), "whatever", Message(b"f1"))
    await broker.publish(n("h"), "", Message(b"h1", {"kind": "chat"}))
    await broker.publish(n("h"), "", Message(b"h2", {"kind": "other"}))
    expected = {"t": [b"t1"], "d": [b"d1"], "f": [b"f1"], "h": [b"h1"]}
    await eventually(lambda: {name: inbox.bodies for name, inbox in inboxes.items()} == expected)


async def test_topic_bindings_of_every_shape_route_as_they_come_and_go(broker: Broker, n: Names) -> None:
    await broker.declare_exchange(n("t"), "topic")
    inboxes = {}
    for i, shape in enumerate(SHAPES):  # a queue per binding
        await broker.declare_queue(n(f"shape-{i}"))
        await broker.bind_queue(n(f"shape-{i}"), n("t"), shape)
        inboxes[shape] = await consume(broker, n(f"shape-{i}"), no_ack=True)
    for key, body in BEFORE:
        await broker.publish(n("t"), key, Message(body))
    for shape in GONE:
        await broker.unbind_queue(n(f"shape-{SHAPES.index(shape)}"), n("t"), shape)
    for key, body in AFTER:
        await broker.publish(n("t"), key, Message(body))
    await eventually(lambda: {shape: inbox.bodies for shape, inbox in inboxes.items()} == EXPECTED)


async def test_exchange_to_exchange_gives_one_copy_per_queue(broker: Broker, n: Names) -> None:
    alice, conversations, bob = n("alice.publish"), n("conversations"), n("bob.subscribe")
    await broker.declare_exchange(alice, "topic")
    await broker.declare_exchange(conversations, "topic")
    await broker.declare_exchange(bob, "fanout")
    await broker.bind_exchange(conversations, alice, "c1.*")
    await broker.bind_exchange(bob, conversations, "c1.*")
    await broker.bind_exchange(bob, alice, "#")  # a second path
    await broker.declare_queue(n("bob"))
    await broker.bind_queue(n("bob"), bob)
    inbox = await consume(broker, n("bob"), no_ack=True)
    await broker.publish(alice, "c1.messages", Message(b"hello"))
    await broker.publish(alice, "c2.messages", Message(b"via # only"))
    await eventually(lambda: inbox.bodies == [b"hello", b"via # only"])
    await broker.unbind_exchange(bob, alice, "#")
    await broker.publish(alice, "c2.messages", Message(b"gone"))
    await broker.publish(alice, "c1.messages", Message(b"still"))
    await eventually(lambda: inbox.bodies == [b"hello", b"via # only", b"still"])


async def test_round_robin_with_prefetch_and_requeue(broker: Broker, n: Names) -> None:
    await broker.declare_queue(n("work"))
    a = await consume(broker, n("work"), prefetch=1)
    b = await consume(broker, n("work"), prefetch=1)

    def everything() -> list[Delivery]:
        return a.deliveries + b.deliveries

    for body in (b"1", b"2", b"3"):
        await broker.publish("", n("work"), Message(body))
    await eventually(lambda: sorted(d.message.body for d in everything()) == [b"1", b"2"])
    nacked = next(d for d in everything() if d.message.body == b"1")
    await nacked.nack(requeue=True)
    await eventually(lambda: len(everything()) == 3)
    [again] = [d for d in everything() if d.redelivered]
    assert again.message.body == b"1"
    for delivery in everything():
        if delivery is not nacked:
            await delivery.ack()
    await eventually(lambda: [d.message.body for d in everything()].count(b"3") == 1)


async def test_a_single_active_consumer_gets_everything_in_order_then_hands_over(
    broker: Broker, n: Names
) -> None:
    await broker.declare_queue(n("ordered"), durable=True, single_active_consumer=True)
    active, waiting = Inbox(), Inbox()
    first = await broker.consume(n("ordered"), active, prefetch=5)
    await broker.consume(n("ordered"), waiting, prefetch=5)
    for body in (b"1", b"2", b"3"):
        await broker.publish("", n("ordered"), Message(body))
    await eventually(lambda: active.bodies == [b"1", b"2", b"3"])
    for delivery in active.deliveries:
        await delivery.ack()
    await first.cancel()
    await broker.publish("", n("ordered"), Message(b"4"))
    await eventually(lambda: waiting.bodies == [b"4"])
    assert active.bodies == [b"1", b"2", b"3"]


async def test_cancel_requeues_unacked_and_auto_delete_goes(broker: Broker, n: Names) -> None:
    await broker.declare_queue(n("shared"))
    inbox = Inbox()
    consumer = await broker.consume(n("shared"), inbox)
    await broker.publish("", n("shared"), Message(b"x"))
    await eventually(lambda: inbox.bodies == [b"x"])
    await consumer.cancel()
    again = await consume(broker, n("shared"))
    await eventually(lambda: again.bodies == [b"x"])
    assert again.deliveries[0].redelivered

    name = await broker.declare_queue("", exclusive=True, auto_delete=True)
    assert name.startswith("hutch.gen-")
    consumer = await broker.consume(name, Inbox())
    await consumer.cancel()

    async def gone() -> bool:
        try:
            await broker.declare_queue(name, passive=True)
        except NotFound:
            return True
        return False

    assert await gone()


async def test_redeclare_with_other_flags_is_refused(broker: Broker, n: Names) -> None:
    await broker.declare_exchange(n("x"), "topic")
    with pytest.raises(PreconditionFailed):
        await broker.declare_exchange(n("x"), "fanout")
    await broker.declare_queue(n("q"), durable=True)
    with pytest.raises(PreconditionFailed):
        await broker.declare_queue(n("q"), durable=False)
    await broker.declare_queue(n("q"), durable=True)  # the broker still works after a refusal


async def test_unknown_names_are_not_found(broker: Broker, n: Names) -> None:
    with pytest.raises(NotFound):
        await broker.publish(n("nope"), "k", Message(b""))
    with pytest.raises(NotFound):
        await broker.bind_queue(n("nope"), "amq.topic", "k")
    with pytest.raises(NotFound):
        await broker.declare_queue(n("nope"), passive=True)
    with pytest.raises(NotFound):
        await broker.exchange_type(n("nope"))
    assert await broker.exchange_type("amq.topic") == "topic"


async def test_a_closed_broker_says_it_is_unavailable() -> None:
    broker = MemoryBroker()
    await broker.declare_queue("mine", exclusive=True)
    await broker.close()
    with pytest.raises(BrokerUnavailable):
        await broker.declare_queue("mine", passive=True)
