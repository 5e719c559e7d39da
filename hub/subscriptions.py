"""The two kinds of subscription a session holds.

`LocalSubscription` is served by the node's fan-out (`/exchange/...`, `/topic/...`):
no broker queue of its own, so its client acks are kept here, with the
`prefetch-count` window and redelivery on NACK that a queue of its own would give.
`QueueSubscription` consumes a real queue (`/queue/...`, `/amq/queue/...`,
durable subscriptions, reply queues): acks go to the broker. Both deliver coded messages
in the form the client asked for.
Both hand the session an ack token with `ack()` and `nack(requeue)`.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from hutch.hub.broker.base import Broker, Consumer, Delivery
from hutch.hub.fanout import NodeFanout
from hutch.hub.forms import Delivered
from hutch.protocol import OutgoingMessage, StompError
from hutch.rules import Form


class MessageSink(Protocol):
    """The session side: queues a MESSAGE for one of its subscriptions."""

    form: Form

    def send_message(
        self, message: OutgoingMessage, subscription: str, token: object = None, *, redelivered: bool = False
    ) -> None: ...

    def overflow(self, why: str) -> None: ...

    def fail(self, error: StompError) -> None: ...


class _LocalToken:
    __slots__ = ("message", "subscription")

    def __init__(self, subscription: LocalSubscription, message: OutgoingMessage):
        self.subscription = subscription
        self.message = message

    async def ack(self) -> None:
        self.subscription.settled()

    async def nack(self, requeue: bool = True) -> None:
        self.subscription.settled(self.message if requeue else None)


class LocalSubscription:
    def __init__(self, sink: MessageSink, sub_id: str, ack: str, prefetch: int, max_pending: int):
        self.sink = sink
        self.id = sub_id
        self.ack = ack
        self.prefetch = prefetch
        self.max_pending = max_pending
        self.in_flight = 0
        self.pending: deque[tuple[OutgoingMessage, bool]] = deque()  # (message, redelivered)
        self._attached: list[tuple[NodeFanout, str, str]] = []
        self._held: list[Delivered] | None = None
        self.cancelled = False

    async def attach(self, fanout: NodeFanout, exchange: str, key: str) -> None:
        """Receive what `exchange` routes with `key`; a subscription may have several of these."""
        await fanout.attach(exchange, key, self)
        self._attached.append((fanout, exchange, key))

    async def detach(self, exchange: str, key: str) -> None:
        for attached in [a for a in self._attached if a[1:] == (exchange, key)]:
            self._attached.remove(attached)
            await attached[0].detach(exchange, key, self)

    def attached_to(self, exchange: str, key: str) -> bool:
        return any(a[1:] == (exchange, key) for a in self._attached)

    async def cancel(self) -> None:
        """Stop receiving; messages not acked are dropped, as with an auto-delete queue."""
        self.cancelled = True
        attached, self._attached = self._attached, []
        for fanout, exchange, key in attached:
            await fanout.detach(exchange, key, self)

    def hold(self) -> None:
        """Keep live messages back (while missed ones are replayed first)."""
        self._held = []

    def release(self, skip: set[str]) -> None:
        """Deliver what was held, but for messages whose uuid is in `skip` (replayed already)."""
        held, self._held = self._held or [], None
        for delivered in held:
            if not (skip and delivered.uuid in skip):
                self.deliver(delivered)

    def deliver(self, delivered: Delivered) -> None:
        if self._held is not None:
            self._held.append(delivered)
            return
        self.push(delivered.outgoing(self.sink.form))

    def push(self, message: OutgoingMessage) -> None:
        if self.ack == "auto":
            self.sink.send_message(message, self.id)
        elif self.prefetch and self.in_flight >= self.prefetch:
            self.pending.append((message, False))
            if len(self.pending) > self.max_pending:
                self.sink.overflow(
                    f"more than {self.max_pending} messages wait for ACKs on subscription '{self.id}'"
                )
        else:
            self._send(message, redelivered=False)

    def settled(self, requeue: OutgoingMessage | None = None) -> None:
        """A message was ACKed or NACKed; a NACK with requeue sends it again, first."""
        self.in_flight -= 1
        if requeue is not None:
            self.pending.appendleft((requeue, True))
        while self.pending and (not self.prefetch or self.in_flight < self.prefetch):
            self._send(*self.pending.popleft())

    def _send(self, message: OutgoingMessage, redelivered: bool) -> None:
        self.in_flight += 1
        self.sink.send_message(message, self.id, _LocalToken(self, message), redelivered=redelivered)


class QueueSubscription:
    def __init__(self, sink: MessageSink, sub_id: str, ack: str, queue: str):
        self.sink = sink
        self.id = sub_id
        self.ack = ack
        self.queue = queue
        self.consumer: Consumer | None = None

    async def start(self, broker: Broker, prefetch: int) -> None:
        self.consumer = await broker.consume(
            self.queue,
            self._on_delivery,
            prefetch=prefetch,
            no_ack=self.ack == "auto",
            on_cancel=self._on_cancel,
        )

    def _on_cancel(self) -> None:
        """The queue was deleted under the subscription: the client is told, as Web-STOMP does."""
        self.consumer = None
        self.sink.fail(
            StompError(
                "Server cancelled subscription",
                f"the queue '{self.queue}' was deleted: no more messages will be delivered for it",
                headers={"subscription": self.id},
            )
        )

    def _on_delivery(self, delivery: Delivery) -> None:
        message = Delivered.of(delivery).outgoing(self.sink.form)
        token = None if self.ack == "auto" else delivery
        self.sink.send_message(message, self.id, token, redelivered=delivery.redelivered)

    async def cancel(self) -> None:
        """Stop consuming; the broker requeues what was not acked."""
        if self.consumer is not None:
            await self.consumer.cancel()
            self.consumer = None
