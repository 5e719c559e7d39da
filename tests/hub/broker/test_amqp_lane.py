"""The lane on RabbitMQ: publishes with confirms and the node's own queues consumed without acks,
on a connection of their own that is opened again when lost."""

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from amqp_frames import handshake, server, unmarshalled
from backends import AMQP_URL, eventually
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.amqp_lane import Lane, LaneConsumer
from hutch.hub.broker.amqp_wire import CONSUMING, LaneConnection
from hutch.hub.broker.base import Delivery, Message
from hutch.hub.broker.errors import BrokerError, NotFound, PreconditionFailed, QueueFull
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader


@pytest.fixture
async def broker() -> AsyncIterator[AmqpBroker]:
    amqp = AmqpBroker(AMQP_URL, reconnect_interval=0.2)
    await amqp.connect()
    yield amqp
    await amqp.close()


@pytest.fixture
async def name() -> AsyncIterator[str]:
    name = f"test-lane-{uuid.uuid4().hex[:8]}"
    yield name
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    for queue in (name, f"{name}-work"):
        await channel.queue_delete(queue)
    await connection.close()


async def own_queue(broker: AmqpBroker, name: str) -> tuple[list[Delivery], LaneConsumer]:
    """A queue of the node's own, bound to `amq.direct` with its name, consumed on the lane."""
    received: list[Delivery] = []
    queue = await broker.declare_queue(name, expires=60)
    await broker.bind_queue(queue, "amq.direct", name)
    consumer = await broker.consume(queue, received.append, no_ack=True)
    assert isinstance(consumer, LaneConsumer)
    return received, consumer


async def test_a_confirmed_publish_reaches_the_queue_consumed_on_the_lane(
    broker: AmqpBroker, name: str
) -> None:
    received, _ = await own_queue(broker, name)
    await broker.publish("amq.direct", name, Message(b"hello", {"persistent": "true", "x-kind": "chat"}))
    await broker.publish("amq.direct", name, Message(b"x" * 300_000))  # past one frame
    await eventually(lambda: len(received) == 2)
    first, large = received
    assert (first.exchange, first.routing_key, first.message.body) == ("amq.direct", name, b"hello")
    assert first.message.headers["x-kind"] == "chat" and first.message.headers["persistent"] == "true"
    assert large.message.body == b"x" * 300_000


class Wire(asyncio.Transport):
    """Where the lane writes, for a test that plays RabbitMQ's side itself."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def opened_lane() -> tuple[Lane, Wire]:
    """A lane past its handshake with a RabbitMQ the test plays."""
    lane, wire = Lane(LaneConnection("guest", "guest", "/", heartbeat=0), on_lost=lambda: None), Wire()
    lane.connection_made(wire)
    lane.data_received(handshake())
    return lane, wire


def written(wire: Wire) -> list[object]:
    """What the lane wrote since the last look, frame by frame."""
    frames = [value for _, value in unmarshalled(bytes(wire.written))]
    wire.written.clear()
    return frames


async def test_a_lane_consumer_starts_only_once_rabbitmq_has_started_it() -> None:
    # What a SUBSCRIBE's receipt promises: a message sent after it, by anyone, reaches it.
    lane, _ = opened_lane()
    started, refused = (LaneConsumer(queue, print, None, set()) for queue in ("work", "gone"))
    starting = asyncio.ensure_future(lane.start(started))
    failing = asyncio.ensure_future(lane.start(refused))
    await asyncio.sleep(0.05)
    assert not starting.done() and not failing.done()
    lane.data_received(server((CONSUMING, commands.Basic.ConsumeOk(started.tag))))
    await asyncio.wait_for(starting, 1)
    assert not failing.done()
    lane.data_received(
        server((CONSUMING, commands.Channel.Close(404, "NOT_FOUND - no queue 'gone'", 60, 20)))
    )
    with pytest.raises(NotFound, match="no queue 'gone'"):
        await asyncio.wait_for(failing, 1)


async def test_a_consumer_given_up_on_before_it_started_is_cancelled_and_requeues_what_comes() -> None:
    lane, wire = opened_lane()
    running: set[LaneConsumer] = set()
    received: list[Delivery] = []
    consumer = LaneConsumer("work", received.append, None, running, acked=True, prefetch=5)
    running.add(consumer)
    with pytest.raises(TimeoutError):  # RabbitMQ is slow to answer: the subscriber gives up
        await asyncio.wait_for(lane.start(consumer), 0.05)
    await asyncio.sleep(0)
    assert running == set()
    assert [type(value) for value in written(wire)][-1] == commands.Basic.Cancel
    lane.data_received(
        server(
            (CONSUMING, commands.Basic.ConsumeOk(consumer.tag)),
            (CONSUMING, commands.Basic.Deliver(consumer.tag, 7, False, "", "work")),
            (CONSUMING, ContentHeader(body_size=3)),
            (CONSUMING, ContentBody(b"job")),
        )
    )
    await asyncio.sleep(0)
    assert received == []
    (nack,) = written(wire)
    assert isinstance(nack, commands.Basic.Nack) and (nack.delivery_tag, nack.requeue) == (7, True)


async def test_a_publish_rabbitmq_refuses_raises_and_the_lane_goes_on(broker: AmqpBroker, name: str) -> None:
    received, _ = await own_queue(broker, name)
    # A user_id that is not the login: RabbitMQ closes the channel on it.
    with pytest.raises(PreconditionFailed, match="user_id"):
        await broker.publish("amq.direct", name, Message(b"forged", {"x-hutch-published-by": "mallory"}))
    # An exchange deleted behind the broker's back, while it still knows its type.
    await broker.declare_exchange(f"{name}-x", "direct")
    connection = await aio_pika.connect(AMQP_URL)
    await (await connection.channel()).exchange_delete(f"{name}-x")
    await connection.close()
    with pytest.raises(NotFound, match="no exchange"):
        await broker.publish(f"{name}-x", "k", Message(b"nowhere"))
    await broker.publish("amq.direct", name, Message(b"after"))
    await eventually(lambda: [d.message.body for d in received] == [b"after"])


async def test_a_name_longer_than_amqp_allows_is_refused(broker: AmqpBroker) -> None:
    with pytest.raises(BrokerError, match="not a valid AMQP name"):
        await broker.publish("amq.direct", "k" * 256, Message(b""))


async def test_a_queue_at_its_limit_refuses_with_queue_full(broker: AmqpBroker, name: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    await channel.declare_queue(
        name, auto_delete=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    try:
        await broker.publish("", name, Message(b"1"))
        with pytest.raises(QueueFull):
            await broker.publish("", name, Message(b"2"))
    finally:
        await channel.queue_delete(name)
        await connection.close()


async def test_a_queue_deleted_under_a_lane_consumer_cancels_it(broker: AmqpBroker, name: str) -> None:
    cancelled = asyncio.Event()
    queue = await broker.declare_queue(name)
    await broker.consume(queue, lambda _: None, no_ack=True, on_cancel=cancelled.set)
    connection = await aio_pika.connect(AMQP_URL)
    await (await connection.channel()).queue_delete(name)
    await connection.close()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_cancelled_lane_consumer_gets_nothing_more(broker: AmqpBroker, name: str) -> None:
    received, consumer = await own_queue(broker, name)
    await broker.publish("amq.direct", name, Message(b"1"))
    await eventually(lambda: len(received) == 1)
    await consumer.cancel()
    await broker.publish("amq.direct", name, Message(b"2"))
    await asyncio.sleep(0.2)
    assert [d.message.body for d in received] == [b"1"]


async def test_an_acked_lane_consumer_keeps_its_prefetch_and_gets_back_what_it_did_not_ack(
    broker: AmqpBroker, name: str
) -> None:
    received: list[Delivery] = []
    queue = await broker.declare_queue(name, durable=True)
    await broker.bind_queue(queue, "amq.direct", name)
    consumer = await broker.consume(queue, received.append, prefetch=2)
    assert isinstance(consumer, LaneConsumer)
    for number in range(3):
        await broker.publish("amq.direct", name, Message(b"%d" % number))
    await eventually(lambda: len(received) == 2)
    await asyncio.sleep(0.2)
    assert [d.message.body for d in received] == [b"0", b"1"]  # the third waits for an ack
    await received[0].ack()
    await received[1].nack(requeue=True)
    await received[1].ack()  # settled already: nothing more goes to RabbitMQ
    await eventually(lambda: len(received) == 4)
    assert sorted((d.message.body, d.redelivered) for d in received[2:]) == [(b"1", True), (b"2", False)]
    await consumer.cancel()  # both unacked: back in the queue
    for _ in range(50):
        if await broker.queue_length(queue) == 2:
            break
        await asyncio.sleep(0.05)
    assert await broker.queue_length(queue) == 2


async def test_consumers_go_on_after_rabbitmq_closes_the_lanes_consuming_channel(
    broker: AmqpBroker, name: str
) -> None:
    received: list[Delivery] = []
    queue = await broker.declare_queue(name, durable=True)
    consumer = await broker.consume(queue, received.append, prefetch=10)
    assert isinstance(consumer, LaneConsumer) and consumer.lane is not None
    await broker.publish("", queue, Message(b"before"))
    await eventually(lambda: len(received) == 1)
    consumer.lane.settle(999_999, received[0]._opening, None)  # RabbitMQ closes the channel on it
    # Consumed again on the reopened channel: the unacked message comes back.
    await eventually(
        lambda: [(d.message.body, d.redelivered) for d in received] == [(b"before", False), (b"before", True)]
    )
    await broker.publish("", queue, Message(b"after"))
    await eventually(lambda: [d.message.body for d in received][2:] == [b"after"])
    for delivery in received:
        await delivery.ack()  # the first is of the closed channel: nothing is sent for it
    await eventually_empty(broker, queue)
    assert broker.connected


async def test_a_lost_lane_is_opened_again_and_its_consumers_consume_again(
    broker: AmqpBroker, name: str
) -> None:
    received, _ = await own_queue(broker, name)
    unacked: list[Delivery] = []
    work = await broker.declare_queue(f"{name}-work", durable=True)
    await broker.consume(work, unacked.append, prefetch=1)
    await broker.publish("", work, Message(b"job"))
    await eventually(lambda: len(unacked) == 1)
    lost = broker._lane
    assert lost is not None
    pid = await asyncio.to_thread(lane_connection, lost.local_port)
    await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "close_connection", pid, "a test closes the lane"],
        check=True,
        capture_output=True,
    )
    await eventually(lambda: not lost.is_open)
    await eventually(lambda: broker.connected, timeout=10)
    assert broker._lane is not lost
    await broker.publish("amq.direct", name, Message(b"again"))
    await eventually(lambda: [d.message.body for d in received] == [b"again"])
    await eventually(lambda: len(unacked) == 2)  # RabbitMQ gave the unacked job back
    assert (unacked[1].message.body, unacked[1].redelivered) == (b"job", True)
    await unacked[0].ack()  # of the lost lane: nothing to do
    await unacked[1].ack()
    await eventually_empty(broker, work)


async def eventually_empty(broker: AmqpBroker, queue: str) -> None:
    for _ in range(50):
        if await broker.queue_length(queue) == 0:
            break
        await asyncio.sleep(0.05)
    assert await broker.queue_length(queue) == 0


def lane_connection(port: int) -> str:
    """The RabbitMQ pid of the connection from `port`."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "peer_port", "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in listed.splitlines():
        pid, peer_port = line.split("\t")
        if int(peer_port) == port:
            return pid
    raise AssertionError(f"no RabbitMQ connection from port {port}")
