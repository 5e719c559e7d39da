"""The two kinds of subscription a session holds.

`LocalSubscription` is served by the node's fan-out (`/exchange/...`, `/topic/...`):
no broker queue of its own, so its client acks are kept here, with the
`prefetch-count` window and redelivery on NACK that a queue of its own would give.
`QueueSubscription` consumes a real queue (`/queue/...`, `/amq/queue/...`,
durable subscriptions, reply queues): acks go to the broker. Both deliver coded messages
in the form the client asked for.
Both hand the session an ack token with `ack()` and `nack(requeue)`.

A queue's backlog goes to the client at the pace it reads: the hub always consumes with
broker acks and a window of at most `WINDOW` unacked messages, hands a delivery to the
client only while its outbox has room, and, for `ack:auto`, acks it to the broker once it
is in the outbox. A client that reads slowly leaves the rest in the queue, not in the hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from hutch.hub.broker.base import Broker, Consumer, Delivery
from hutch.hub.core.fanout import NodeFanout, Reads
from hutch.hub.messages.encoding import LocalCopy
from hutch.protocol import OutgoingMessage, StompError
from hutch.rules import Form

log = logging.getLogger(__name__)

WINDOW = 64  # unacked broker deliveries per queue subscription, when the client sets no prefetch


class MessageSink(Protocol):
    """The session side: queues a MESSAGE for one of its subscriptions."""

    id: str  # the connection's: one device
    form: Form

    @property
    def has_room(self) -> bool:
        """Room for one more frame of a backlog."""
        ...

    def when_room(self, callback: object) -> None: ...

    def send_message(
        self, message: OutgoingMessage, subscription: str, token: object = None, *, redelivered: bool = False
    ) -> None: ...

    def overflow(self, why: str) -> None: ...

    def fail(self, error: StompError) -> None: ...


class _LocalToken:
    __slots__ = ("copy", "message", "subscription")

    def __init__(self, subscription: LocalSubscription, message: OutgoingMessage, copy: LocalCopy | None):
        self.subscription = subscription
        self.message = message
        self.copy = copy

    async def ack(self) -> None:
        self.subscription.settled()
        if self.copy is not None and self.subscription.on_taken is not None:
            self.subscription.on_taken(self.copy)

    async def nack(self, requeue: bool = True) -> None:
        self.subscription.settled(self.message if requeue else None, self.copy)


class LocalSubscription:
    def __init__(self, sink: MessageSink, sub_id: str, ack: str, prefetch: int, max_pending: int):
        self.sink = sink
        self.id = sub_id
        self.ack = ack
        self.prefetch = prefetch
        self.max_pending = max_pending
        self.in_flight = 0
        # (message, redelivered, what it was made of: told to `on_taken` once acked)
        self.pending: deque[tuple[OutgoingMessage, bool, LocalCopy | None]] = deque()
        # Told of each message the client has: written (ack auto) or acked (delivery receipts).
        self.on_taken: Callable[[LocalCopy], None] | None = None
        # Shown each live message for a while after a replay (`recovery.Settling`).
        self.settling: Callable[[LocalCopy], None] | None = None
        self._attached: list[tuple[NodeFanout, str, str]] = []
        self._held: list[LocalCopy] | None = None
        self.cancelled = False
        self.on_settled: Callable[[], None] | None = None  # once: a replay waits for the window
        self._on_cancel: list[Callable[[], Awaitable[None]]] = []

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

    def on_cancel(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run `cleanup` when the subscription is cancelled: whoever registered it elsewhere
        (a stream, a replay) forgets it then, without the session having to know."""
        self._on_cancel.append(cleanup)

    async def cancel(self) -> None:
        """Stop receiving; messages not acked are dropped, as with an auto-delete queue."""
        self.cancelled = True
        cleanups, self._on_cancel = self._on_cancel, []
        for cleanup in cleanups:
            await cleanup()
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

    @property
    def can_take(self) -> bool:
        """Room in the client's window (prefetch, unacked bound) for one more message now."""
        if self.ack == "auto":
            return True
        limit = min(self.prefetch, self.max_pending) if self.prefetch else self.max_pending
        return not self.pending and self.in_flight < limit

    def deliver(self, delivered: LocalCopy) -> None:
        if self.settling is not None:
            self.settling(delivered)
        if self._held is not None:
            self._held.append(delivered)
            if len(self._held) > self.max_pending:  # live traffic outran a replay for too long
                self.sink.overflow(f"more than {self.max_pending} live messages wait behind a replay")
            return
        self.push(delivered.outgoing(self.sink.form), delivered)

    def push(self, message: OutgoingMessage, copy: LocalCopy | None = None) -> None:
        if self.ack == "auto":
            self.sink.send_message(message, self.id)
            if copy is not None and self.on_taken is not None:
                self.on_taken(copy)
        elif self.prefetch and self.in_flight >= self.prefetch:
            self.pending.append((message, False, copy))
            if len(self.pending) > self.max_pending:
                self.sink.overflow(
                    f"more than {self.max_pending} messages wait for ACKs on subscription '{self.id}'"
                )
        else:
            self._send(message, False, copy)

    def settled(self, requeue: OutgoingMessage | None = None, copy: LocalCopy | None = None) -> None:
        """A message was ACKed or NACKed; a NACK with requeue sends it again, first."""
        self.in_flight -= 1
        if requeue is not None:
            self.pending.appendleft((requeue, True, copy))
        while self.pending and (not self.prefetch or self.in_flight < self.prefetch):
            self._send(*self.pending.popleft())
        if self.on_settled is not None:
            wake, self.on_settled = self.on_settled, None
            wake()

    def _send(self, message: OutgoingMessage, redelivered: bool, copy: LocalCopy | None) -> None:
        if self.in_flight >= self.max_pending:  # prefetch 0 is no licence to never ack
            self.sink.overflow(
                f"more than {self.max_pending} messages wait for ACKs on subscription '{self.id}'"
            )
            return
        self.in_flight += 1
        self.sink.send_message(message, self.id, _LocalToken(self, message, copy), redelivered=redelivered)


class QueueSubscription:
    def __init__(self, sink: MessageSink, sub_id: str, ack: str, queue: str, read: Reads | None = None):
        self.sink = sink
        self.read = read  # what the node delivers for each delivery (`NodeFanout.read`)
        self.id = sub_id
        self.ack = ack
        self.queue = queue
        self.consumer: Consumer | None = None
        self._waiting: deque[Delivery] = deque()  # delivered by the broker, not yet to the client
        self._room_asked = False
        self._cancelled = False
        self._held = True  # until `release`: the SUBSCRIBE's RECEIPT goes before any MESSAGE
        self._acks: set[asyncio.Task[None]] = set()

    async def start(self, broker: Broker, prefetch: int) -> None:
        self.consumer = await broker.consume(
            self.queue,
            self._on_delivery,
            prefetch=min(prefetch, WINDOW) if prefetch else WINDOW,
            no_ack=False,  # acked once the client has it (auto) or acks it: its pace, not ours
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
        self._waiting.extend((delivery,) if self.read is None else self.read(delivery))
        self._pass_on()

    def release(self) -> None:
        """Start handing the client what the queue delivers (what waited in it comes first)."""
        self._held = False
        self._pass_on()

    def _pass_on(self) -> None:
        """Hand the client what waits, while it has room; ask to be called when it has more."""
        self._room_asked = False
        while self._waiting and not self._cancelled and not self._held:
            if not self.sink.has_room:
                if not self._room_asked:
                    self._room_asked = True
                    self.sink.when_room(self._pass_on)
                return
            delivery = self._waiting.popleft()
            message = LocalCopy.of(delivery).outgoing(self.sink.form)
            token = None if self.ack == "auto" else delivery
            self.sink.send_message(message, self.id, token, redelivered=delivery.redelivered)
            if token is None:
                self._ack_to_broker(delivery)

    def _ack_to_broker(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(delivery.ack())
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def cancel(self) -> None:
        """Stop consuming; the broker requeues what was not acked (what waits here included)."""
        self._cancelled = True
        self._waiting.clear()
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.cancel()
