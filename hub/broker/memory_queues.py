"""The embedded broker's queues: messages in order, round-robin consumers with prefetch,
requeue with `redelivered`, a single active consumer, and the length and byte limits a new
message is refused at (reject-publish). What `MemoryBroker` routes to."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hutch.hub.broker.base import Message, OnCancel, OnDelivery

if TYPE_CHECKING:
    from hutch.hub.broker.memory import MemoryBroker


@dataclass(slots=True)
class Queued:
    message: Message
    exchange: str
    routing_key: str
    redelivered: bool = False


class MemoryDelivery:
    __slots__ = ("_consumer", "_queued", "exchange", "message", "redelivered", "routing_key", "tag")

    def __init__(self, consumer: Consumer, queued: Queued, tag: int):
        self._consumer = consumer
        self._queued = queued
        self.tag = tag
        self.exchange = queued.exchange
        self.routing_key = queued.routing_key
        self.message = queued.message
        self.redelivered = queued.redelivered

    async def ack(self) -> None:
        self._consumer.settle(self.tag, requeue=None)

    async def nack(self, requeue: bool = True) -> None:
        self._consumer.settle(self.tag, requeue=requeue)


class Consumer:
    def __init__(
        self, queue: Queue, on_delivery: OnDelivery, prefetch: int, no_ack: bool, on_cancel: OnCancel | None
    ):
        self.queue = queue
        self.on_delivery = on_delivery
        self.on_cancel = on_cancel
        self.prefetch = prefetch
        self.no_ack = no_ack
        self.unacked: dict[int, Queued] = {}
        self.active = True
        self._tags = itertools.count(1)

    @property
    def ready(self) -> bool:
        return self.active and (self.no_ack or not self.prefetch or len(self.unacked) < self.prefetch)

    def deliver(self, queued: Queued) -> None:
        tag = next(self._tags)
        if not self.no_ack:
            self.unacked[tag] = queued
        self.on_delivery(MemoryDelivery(self, queued, tag))

    def settle(self, tag: int, requeue: bool | None) -> None:
        queued = self.unacked.pop(tag, None)
        if queued is None:
            return  # already settled, or requeued when the consumer was cancelled
        if requeue:
            queued.redelivered = True
            self.queue.requeue(queued)
        self.queue.dispatch()

    async def cancel(self) -> None:
        if not self.active:
            return
        self.active = False
        self.queue.remove_consumer(self)


class Queue:
    def __init__(
        self,
        broker: MemoryBroker,
        name: str,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        single_active_consumer: bool = False,
    ):
        self.broker = broker
        self.single_active_consumer = single_active_consumer
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.auto_delete = auto_delete
        self.messages: deque[Queued] = deque()
        self.bytes = 0  # of the bodies in `messages`
        self.consumers: list[Consumer] = []
        self._next = 0  # round-robin position
        self._dispatching = False

    def put(self, queued: Queued) -> bool:
        """Take a new message; False when the queue is at a limit (reject-publish)."""
        size = len(queued.message.body)
        if len(self.messages) >= self.broker.max_length or self.bytes + size > self.broker.max_bytes:
            return False
        self.messages.append(queued)
        self.bytes += size
        self.dispatch()
        return True

    def requeue(self, queued: Queued) -> None:
        """A message back at the head (nacked, or its consumer gone): never refused."""
        self.messages.appendleft(queued)
        self.bytes += len(queued.message.body)

    def dispatch(self) -> None:
        # A consumer may publish, ack or cancel from inside its callback: no re-entry.
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self.messages:
                consumer = self._next_ready()
                if consumer is None:
                    break
                queued = self.messages.popleft()
                self.bytes -= len(queued.message.body)
                consumer.deliver(queued)
        finally:
            self._dispatching = False

    def _next_ready(self) -> Consumer | None:
        count = len(self.consumers)
        if count <= 1 or self.single_active_consumer:  # alone, or the oldest is the active one
            first = self.consumers[0] if count else None
            return first if first is not None and first.ready else None
        for offset in range(count):
            consumer = self.consumers[(self._next + offset) % count]
            if consumer.ready:
                self._next = (self._next + offset + 1) % count
                return consumer
        return None

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.remove(consumer)
        # "Unacknowledged messages are requeued when their consumer goes away", in order.
        for queued in reversed(list(consumer.unacked.values())):
            queued.redelivered = True
            self.requeue(queued)
        consumer.unacked.clear()
        if self.auto_delete and not self.consumers:
            self.broker.drop_queue(self.name)
        else:
            self.dispatch()
