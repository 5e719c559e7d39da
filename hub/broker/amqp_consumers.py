"""The consumers of the RabbitMQ broker: each delivery handed on with its ack and nack, each
consumer's settling counted, and a cancel from RabbitMQ (its queue deleted) passed on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import aio_pika
import aiormq
from aiormq.abc import DeliveredMessage
from hutch.hub.broker.amqp_properties import from_amqp
from hutch.hub.broker.base import OnCancel, OnDelivery

log = logging.getLogger(__name__)

_CHANNEL_GONE = (aiormq.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError, ConnectionError)


class AmqpDelivery:
    __slots__ = ("_channel", "_consumer", "_tag", "exchange", "message", "redelivered", "routing_key")

    def __init__(self, delivered: DeliveredMessage, consumer: AmqpConsumer | None):
        deliver = delivered.delivery
        self._channel = delivered.channel
        self._tag = deliver.delivery_tag
        self._consumer = consumer  # None when consumed without acks
        self.exchange = deliver.exchange or ""
        self.routing_key = deliver.routing_key or ""
        self.message = from_amqp(delivered.header.properties, delivered.body)
        self.redelivered = bool(deliver.redelivered)

    async def ack(self) -> None:
        if self._consumer is not None and self._consumer.settled(self):
            await _settle(self._channel.basic_ack(self._tag, wait=False))

    async def nack(self, requeue: bool = True) -> None:
        if self._consumer is not None and self._consumer.settled(self):
            await _settle(self._channel.basic_nack(self._tag, requeue=requeue, wait=False))


async def _settle(operation: Awaitable[object]) -> None:
    # After a reconnect the delivery tag is stale; RabbitMQ has requeued the message already.
    try:
        await operation
    except _CHANNEL_GONE as error:
        log.info("settling a delivery from before a reconnect: %s", error)


class ChannelConsumers:
    """The consumers on one channel: started again when it reopens, told when RabbitMQ ends one."""

    def __init__(self) -> None:
        self.running: set[AmqpConsumer] = set()
        self.starting = asyncio.Lock()  # basic.qos then basic.consume, one consumer at a time

    def cancelled_by_broker(self, frame: aiormq.spec.Basic.Cancel) -> None:
        for consumer in [c for c in self.running if c.tag == frame.consumer_tag]:
            consumer.cancelled_by_broker()


class AmqpConsumer:
    """A consumer straight on the AMQP channel: aio-pika's wrapper (an `IncomingMessage` and a
    second task per message) cost more than the delivery itself. Restarted on every reopening
    of its channel by `AmqpBroker`."""

    def __init__(
        self,
        queue: str,
        on_delivery: OnDelivery,
        no_ack: bool,
        group: ChannelConsumers,
        on_cancel: OnCancel | None = None,
        prefetch: int = 0,
    ):
        self.queue = queue
        self.prefetch = prefetch
        self.on_delivery = on_delivery
        self.no_ack = no_ack
        self.on_cancel = on_cancel
        self.channel: aiormq.abc.AbstractChannel | None = None
        self.tag = ""
        self._unsettled: dict[int, AmqpDelivery] = {}
        self._group = group  # the consumers on this one's channel

    async def start(self, channel: aiormq.abc.AbstractChannel) -> None:
        self._unsettled.clear()  # deliveries of an earlier channel are back in the queue
        channel.on_consumer_cancel_callbacks.add(self._group.cancelled_by_broker)  # once per channel
        async with self._group.starting:
            # global_=False: the limit of each consumer started next on this channel (RabbitMQ).
            await channel.basic_qos(prefetch_count=self.prefetch, global_=False)
            ok = await channel.basic_consume(self.queue, self._deliver, no_ack=self.no_ack)
        self.channel, self.tag = channel, ok.consumer_tag or ""

    async def _deliver(self, delivered: DeliveredMessage) -> None:
        if self.no_ack:
            self.on_delivery(AmqpDelivery(delivered, None))
            return
        delivery = AmqpDelivery(delivered, self)
        self._unsettled[id(delivery)] = delivery
        self.on_delivery(delivery)

    def settled(self, delivery: AmqpDelivery) -> bool:
        """Forget a delivery being acked or nacked; False if it was settled already."""
        return self._unsettled.pop(id(delivery), None) is not None

    def cancelled_by_broker(self) -> None:
        """RabbitMQ ended this consumer (basic.cancel: its queue was deleted)."""
        self._group.running.discard(self)
        self.channel = None
        self._unsettled.clear()  # gone with the queue
        if self.on_cancel is not None:
            self.on_cancel()

    async def cancel(self) -> None:
        """Stop, and requeue what was delivered but not acked (basic.cancel alone keeps it)."""
        self._group.running.discard(self)
        if self.channel is not None:
            with contextlib.suppress(*_CHANNEL_GONE):  # gone with the channel: nothing left to cancel
                await self.channel.basic_cancel(self.tag)
            self.channel = None
        for delivery in list(self._unsettled.values()):
            await delivery.nack(requeue=True)
