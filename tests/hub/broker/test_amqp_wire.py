"""The lane's AMQP client connection, sans I/O: what RabbitMQ would send, fed in as bytes."""

import pytest
from amqp_frames import handshake, server, unmarshalled
from hutch.hub.broker.amqp_wire import (
    CONSUMING,
    PUBLISHING,
    Confirmed,
    ConnectionClosed,
    ConsumerEnded,
    Consuming,
    Delivered,
    LaneConnection,
    ProtocolError,
    PublishRefused,
    Ready,
)
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat


def sent(connection: LaneConnection) -> list[tuple[int, object]]:
    """What the client wrote, decoded frame by frame."""
    return unmarshalled(connection.data_to_send())


def opened(frame_max: int = 4096) -> LaneConnection:
    """A connection past its handshake, both channels open."""
    connection = LaneConnection("hub", "s3cret", "chat")
    events = connection.receive(handshake(frame_max, heartbeat=30))
    assert events == [Ready()]
    sent(connection)
    return connection


def test_the_handshake_logs_in_to_the_vhost_and_opens_a_confirming_and_a_consuming_channel() -> None:
    connection = LaneConnection("hub", "s3cret", "chat", heartbeat=60)
    assert connection.data_to_send() == b"AMQP\x00\x00\x09\x01"
    connection.receive(server((0, commands.Connection.Start(mechanisms="PLAIN AMQPLAIN", locales="en_US"))))
    ((_, start_ok),) = sent(connection)
    assert isinstance(start_ok, commands.Connection.StartOk)
    assert (start_ok.mechanism, start_ok.response) == ("PLAIN", "\0hub\0s3cret")
    connection.receive(server((0, commands.Connection.Tune(channel_max=0, frame_max=131072, heartbeat=30))))
    tune_ok, open_ = (value for _, value in sent(connection))
    assert (tune_ok.frame_max, tune_ok.heartbeat) == (131072, 30)  # the lower heart-beat
    assert open_.virtual_host == "chat"
    assert not connection.ready
    connection.receive(server((0, commands.Connection.OpenOk())))
    assert [(channel, type(value)) for channel, value in sent(connection)] == [
        (PUBLISHING, commands.Channel.Open),
        (CONSUMING, commands.Channel.Open),
    ]
    connection.receive(server((PUBLISHING, commands.Channel.OpenOk())))
    assert [type(value) for _, value in sent(connection)] == [commands.Confirm.Select]
    assert connection.receive(server((PUBLISHING, commands.Confirm.SelectOk()))) == [Ready()]
    assert connection.ready


def test_a_refused_login_closes_the_connection_with_the_reason() -> None:
    connection = LaneConnection("hub", "wrong", "/")
    events = connection.receive(
        server((0, commands.Connection.Close(403, "ACCESS_REFUSED - Login was refused", 0, 0)))
    )
    assert events == [ConnectionClosed(403, "ACCESS_REFUSED - Login was refused")]
    assert isinstance(sent(connection)[-1][1], commands.Connection.CloseOk)


def test_a_publish_is_three_frames_and_a_large_body_is_split_by_frame_max() -> None:
    connection = opened(frame_max=4096)
    properties = commands.Basic.Properties(headers={"x-hutch-id": "1-0"}, user_id="hub")
    assert connection.publish("ana.publish", "c1.messages", properties, b"hello") == 1
    method, header, body = (value for _, value in sent(connection))
    assert (method.exchange, method.routing_key, method.mandatory) == ("ana.publish", "c1.messages", False)
    assert header.properties.headers == {"x-hutch-id": "1-0"} and header.properties.user_id == "hub"
    assert body.value == b"hello"
    assert connection.publish("x", "k", commands.Basic.Properties(), b"y" * 10_000) == 2
    frames = sent(connection)
    assert [len(value.value) for _, value in frames[2:]] == [4088, 4088, 1824]
    assert {channel for channel, _ in frames} == {PUBLISHING}


def test_names_longer_than_amqp_allows_are_refused_before_anything_is_written() -> None:
    connection = opened()
    with pytest.raises(ValueError, match="255 bytes"):
        connection.publish("x" * 256, "k", commands.Basic.Properties(), b"")
    with pytest.raises(ValueError, match="255 bytes"):
        connection.publish("x", "é" * 128, commands.Basic.Properties(), b"")
    assert connection.data_to_send() == b""
    assert connection.next_tag == 1


def test_confirms_name_the_publish_and_whether_rabbitmq_took_it() -> None:
    connection = opened()
    events = connection.receive(
        server(
            (PUBLISHING, commands.Basic.Ack(delivery_tag=3, multiple=True)),
            (PUBLISHING, commands.Basic.Nack(delivery_tag=4)),
            (0, Heartbeat()),
        )
    )
    assert events == [Confirmed(3, True, True), Confirmed(4, False, False)]


def test_frames_split_across_reads_are_put_together() -> None:
    connection = opened()
    data = server(
        (PUBLISHING, commands.Basic.Ack(delivery_tag=1)),
        (PUBLISHING, commands.Basic.Ack(delivery_tag=2)),
    )
    events = []
    for byte in range(len(data)):
        events += connection.receive(data[byte : byte + 1])
    assert events == [Confirmed(1, False, True), Confirmed(2, False, True)]


def test_a_refused_publish_loses_what_is_unconfirmed_and_the_channel_opens_again() -> None:
    connection = opened()
    connection.publish("gone", "k", commands.Basic.Properties(), b"1")
    sent(connection)
    events = connection.receive(
        server((PUBLISHING, commands.Channel.Close(404, "NOT_FOUND - no exchange 'gone'", 60, 40)))
    )
    assert events == [PublishRefused(404, "NOT_FOUND - no exchange 'gone'")]
    assert not connection.ready
    assert [type(value) for _, value in sent(connection)] == [commands.Channel.CloseOk, commands.Channel.Open]
    connection.receive(server((PUBLISHING, commands.Channel.OpenOk())))
    sent(connection)
    assert connection.receive(server((PUBLISHING, commands.Confirm.SelectOk()))) == [Ready()]
    assert connection.publish("x", "k", commands.Basic.Properties(), b"") == 1  # tags start again


def test_a_delivery_is_its_method_header_and_body_frames_together() -> None:
    connection = opened(frame_max=4096)
    connection.consume("hutch.node.n1.conversations.1", "t1")
    ((channel, consume),) = sent(connection)
    assert channel == CONSUMING
    assert (consume.queue, consume.consumer_tag, consume.no_ack) == (
        "hutch.node.n1.conversations.1",
        "t1",
        True,
    )
    properties = commands.Basic.Properties(headers={"a": "b"}, delivery_mode=2)
    deliver = commands.Basic.Deliver("t1", 7, True, "conversations", "c1.messages")
    head = server((CONSUMING, deliver), (CONSUMING, ContentHeader(0, 6000, properties)))
    assert connection.receive(head) == []
    first = connection.receive(server((CONSUMING, ContentBody(b"x" * 4000))))
    (delivered,) = connection.receive(server((CONSUMING, ContentBody(b"y" * 2000))))
    assert first == []
    assert isinstance(delivered, Delivered)
    assert (delivered.consumer, delivered.exchange, delivered.routing_key, delivered.redelivered) == (
        "t1",
        "conversations",
        "c1.messages",
        True,
    )
    assert delivered.properties.headers == {"a": "b"} and delivered.properties.delivery_mode == 2
    assert delivered.body == b"x" * 4000 + b"y" * 2000
    empty = server(
        (CONSUMING, commands.Basic.Deliver("t1", 8, False, "", "q")),
        (CONSUMING, ContentHeader(0, 0, commands.Basic.Properties())),
    )
    assert [event.body for event in connection.receive(empty)] == [b""]  # type: ignore[union-attr]


def test_consumers_wait_for_their_channel_and_are_consumed_again_when_it_reopens() -> None:
    connection = LaneConnection("hub", "s3cret", "/")
    connection.consume("q1", "t1")  # before the handshake: sent once the channel is open
    connection.consume("q2", "t2")
    connection.receive(
        server(
            (0, commands.Connection.Start()),
            (0, commands.Connection.Tune(frame_max=4096)),
            (0, commands.Connection.OpenOk()),
            (CONSUMING, commands.Channel.OpenOk()),
        )
    )
    consumes = [value for _, value in sent(connection) if isinstance(value, commands.Basic.Consume)]
    assert [c.queue for c in consumes] == ["q1", "q2"]
    # RabbitMQ answers the first and refuses the second (its queue is gone): the channel closes.
    events = connection.receive(
        server(
            (CONSUMING, commands.Basic.ConsumeOk("t1")),
            (CONSUMING, commands.Channel.Close(404, "NOT_FOUND - no queue 'q2'", 60, 20)),
        )
    )
    assert events == [Consuming("t1"), ConsumerEnded("t2", 404, "NOT_FOUND - no queue 'q2'")]
    assert [type(value) for _, value in sent(connection)] == [commands.Channel.CloseOk, commands.Channel.Open]
    connection.receive(server((CONSUMING, commands.Channel.OpenOk())))
    consumes = [value for _, value in sent(connection) if isinstance(value, commands.Basic.Consume)]
    assert [c.queue for c in consumes] == ["q1"]  # the refused one is not tried again


def test_a_queue_deleted_under_a_consumer_ends_it_and_a_cancel_is_confirmed() -> None:
    connection = opened()
    connection.consume("q1", "t1")
    connection.consume("q2", "t2")
    assert connection.receive(
        server((CONSUMING, commands.Basic.ConsumeOk("t1")), (CONSUMING, commands.Basic.ConsumeOk("t2")))
    ) == [Consuming("t1"), Consuming("t2")]
    assert connection.receive(server((CONSUMING, commands.Basic.Cancel("t1")))) == [
        ConsumerEnded("t1", 404, "the queue was deleted")
    ]
    sent(connection)
    connection.cancel("t2")
    ((_, cancel),) = sent(connection)
    assert cancel.consumer_tag == "t2"
    assert connection.receive(server((CONSUMING, commands.Basic.CancelOk("t2")))) == [
        ConsumerEnded("t2", 200, "cancelled")
    ]
    assert connection.consumers == {}


def test_a_frame_without_its_end_byte_is_a_protocol_error() -> None:
    connection = opened()
    data = bytearray(server((PUBLISHING, commands.Basic.Ack(delivery_tag=1))))
    data[-1] = 0
    with pytest.raises(ProtocolError):
        connection.receive(bytes(data))


def test_an_acked_consumer_gets_its_prefetch_and_its_deliveries_are_settled_on_their_opening() -> None:
    connection = opened()
    connection.consume("messages", "w1", prefetch=20, acked=True)
    (_, qos), (_, consume) = sent(connection)
    assert (qos.prefetch_count, qos.global_) == (20, False)
    assert (consume.queue, consume.no_ack) == ("messages", False)
    (delivered,) = connection.receive(
        server(
            (CONSUMING, commands.Basic.Deliver("w1", 41, False, "conversations", "c1.messages")),
            (CONSUMING, ContentHeader(0, 1, commands.Basic.Properties())),
            (CONSUMING, ContentBody(b"m")),
        )
    )
    assert isinstance(delivered, Delivered)
    assert delivered.delivery_tag == 41
    connection.ack(delivered.delivery_tag, delivered.opening)
    connection.nack(42, delivered.opening, requeue=True)
    connection.nack(43, delivered.opening, requeue=False)
    ack, requeued, dropped = (value for _, value in sent(connection))
    assert (ack.delivery_tag, ack.multiple) == (41, False)
    assert (requeued.delivery_tag, requeued.requeue, requeued.multiple) == (42, True, False)
    assert (dropped.delivery_tag, dropped.requeue) == (43, False)
    # The channel closes and opens again: RabbitMQ has put tag 41's message back; acking it on
    # the new opening would ack another message, or close the channel.
    connection.receive(server((CONSUMING, commands.Channel.Close(406, "PRECONDITION_FAILED", 60, 80))))
    connection.receive(server((CONSUMING, commands.Channel.OpenOk())))
    sent(connection)
    connection.ack(delivered.delivery_tag, delivered.opening)
    assert sent(connection) == []
