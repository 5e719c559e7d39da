"""The node's fan-out on the embedded broker: one queue per exchange and node, however many
subscribers, each binding made once, and gone with the last subscriber."""

import pytest
from backends import eventually
from hutch.hub.broker.base import Message
from hutch.hub.broker.errors import NotFound
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.core.fanout import NodeFanout
from hutch.hub.messages.encoding import LocalCopy
from topic_shapes import AFTER, BEFORE, EXPECTED, GONE, SHAPES


class Target:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def deliver(self, message: LocalCopy) -> None:
        self.got.append(message.body)


async def test_one_queue_and_one_binding_serve_every_subscriber_of_a_key() -> None:
    broker = MemoryBroker()
    await broker.declare_exchange("news", "topic")
    fanout = NodeFanout(broker, "n1")
    first, second, other = Target(), Target(), Target()
    await fanout.attach("news", "sport.*", first)
    await fanout.attach("news", "sport.*", second)
    await fanout.attach("news", "weather", other)
    assert fanout.queue_count() == 1
    await broker.publish("news", "sport.tennis", Message(b"ace"))
    await broker.publish("news", "weather", Message(b"rain"))
    await eventually(lambda: first.got == [b"ace"] and second.got == [b"ace"] and other.got == [b"rain"])


async def test_the_last_subscriber_leaving_removes_the_queue() -> None:
    broker = MemoryBroker()
    await broker.declare_exchange("news", "topic")
    fanout = NodeFanout(broker, "n1")
    one, two = Target(), Target()
    await fanout.attach("news", "a", one)
    await fanout.attach("news", "a", two)
    [queue] = [tap.queue for tap in fanout._taps.values()]
    await fanout.detach("news", "a", one)
    await broker.publish("news", "a", Message(b"still"))
    await eventually(lambda: two.got == [b"still"])
    assert one.got == []
    await fanout.detach("news", "a", two)
    assert fanout.queue_count() == 0
    with pytest.raises(NotFound):
        await broker.declare_queue(queue, passive=True)


async def test_a_binding_the_broker_refuses_leaves_nothing_behind() -> None:
    broker = MemoryBroker()
    fanout = NodeFanout(broker, "n1")
    with pytest.raises(NotFound):
        await fanout.attach("no-such-exchange", "k", Target())
    assert fanout.queue_count() == 0


async def test_a_message_reaches_exactly_the_bindings_that_match_it_as_bindings_come_and_go() -> None:
    broker = MemoryBroker()
    await broker.declare_exchange("news", "topic")
    await broker.declare_exchange("desk", "direct")
    fanout = NodeFanout(broker, "n1")
    targets = {shape: Target() for shape in SHAPES}
    for shape, target in targets.items():
        await fanout.attach("news", shape, target)
    exact = Target()
    await fanout.attach("desk", "sport.tennis", exact)

    for key, body in BEFORE:
        await broker.publish("news", key, Message(body))
    await broker.publish("desk", "sport.tennis", Message(b"desk"))
    await broker.publish("desk", "sport", Message(b"nobody"))
    for shape in GONE:
        await fanout.detach("news", shape, targets[shape])
    for key, body in AFTER:
        await broker.publish("news", key, Message(body))

    await eventually(lambda: {s: t.got for s, t in targets.items()} == EXPECTED and exact.got == [b"desk"])
