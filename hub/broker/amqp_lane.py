"""The lane: a second connection of a node to RabbitMQ for what it does with every message,
publish with confirms and consume its own queues, over the sans-I/O `amqp_wire`.

A publish returns once RabbitMQ has confirmed it, as on aio-pika's channel, and raises the
hub's broker errors otherwise: `BrokerUnavailable` when the connection is lost on its way,
`NotFound` and the like when RabbitMQ refused it and closed the channel. A delivery is handed
to its consumer in the turn of the event loop it arrived in. What one turn wrote goes out in
one system call. Declarations, bindings and other consumers stay on the robust aio-pika
connection; the broker opens the lane again after either connection is lost, and consumes
again there (`AmqpBroker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Callable

from hutch.hub.broker.amqp_properties import from_amqp
from hutch.hub.broker.amqp_wire import (
    Confirmed,
    ConnectionClosed,
    ConsumerEnded,
    Consuming,
    Delivered,
    Event,
    LaneConnection,
    ProtocolError,
    PublishRefused,
    Ready,
)
from hutch.hub.broker.base import OnCancel, OnDelivery
from hutch.hub.broker.errors import BrokerError, BrokerUnavailable, NotFound, PreconditionFailed, QueueFull
from hutch.hub.deadlines import Deadlines
from pamqp import commands
from yarl import URL

log = logging.getLogger(__name__)

CLOSE_WAIT = 1.0  # seconds for RabbitMQ's close-ok before the socket is closed anyway
# A nack: a queue the message is routed to is at its limit with `x-overflow: reject-publish`
# (RabbitMQ's other reason, an internal error of its own, is rare enough to share the words).
NACKED = "RabbitMQ refused the message: a queue it is routed to is full"


CANCEL_WAIT = 5.0  # seconds for RabbitMQ's cancel-ok, delivering until then
_tags = itertools.count(1)


class LaneDelivery:
    """A message from the lane. Consumed without acks it was settled as it left RabbitMQ;
    otherwise `ack` and `nack` settle it once, on the channel it came on (after the lane or
    its channel was lost RabbitMQ has put it back in the queue, and they do nothing)."""

    __slots__ = (
        "_consumer",
        "_lane",
        "_opening",
        "_tag",
        "exchange",
        "message",
        "redelivered",
        "routing_key",
    )

    def __init__(self, delivered: Delivered, lane: Lane, consumer: LaneConsumer | None):
        self.exchange = delivered.exchange
        self.routing_key = delivered.routing_key
        self.message = from_amqp(delivered.properties, delivered.body)
        self.redelivered = delivered.redelivered
        self._lane, self._consumer = lane, consumer
        self._tag, self._opening = delivered.delivery_tag, delivered.opening

    async def ack(self) -> None:
        if self._consumer is not None and self._consumer.settled(self):
            self._lane.settle(self._tag, self._opening, None)

    async def nack(self, requeue: bool = True) -> None:
        if self._consumer is not None and self._consumer.settled(self):
            self._lane.settle(self._tag, self._opening, requeue)


class LaneConsumer:
    """One queue consumed on whichever lane is open: the broker keeps it in `running` and
    consumes it again on every lane it opens. `acked`, at most `prefetch` deliveries (0: no
    limit) wait for their ack."""

    def __init__(
        self,
        queue: str,
        on_delivery: OnDelivery,
        on_cancel: OnCancel | None,
        running: set[LaneConsumer],
        *,
        acked: bool = False,
        prefetch: int = 0,
    ):
        self.queue, self.on_delivery, self.on_cancel = queue, on_delivery, on_cancel
        self.acked, self.prefetch = acked, prefetch
        self.tag = f"hutch.lane.{next(_tags)}"
        self.lane: Lane | None = None
        self._running = running
        self._unsettled: dict[int, LaneDelivery] = {}
        self._abandoned = False

    def deliver(self, delivered: Delivered, lane: Lane) -> None:
        if self._abandoned:
            if self.acked:
                lane.settle(delivered.delivery_tag, delivered.opening, requeue=True)
            return
        delivery = LaneDelivery(delivered, lane, self if self.acked else None)
        if self.acked:
            self._unsettled[id(delivery)] = delivery
        self.on_delivery(delivery)

    def settled(self, delivery: LaneDelivery) -> bool:
        """Forget a delivery being acked or nacked; False if it was settled already."""
        return self._unsettled.pop(id(delivery), None) is not None

    def moved(self, lane: Lane) -> None:
        """Consumed on `lane` from now: what the last one delivered unacked is back in the queue."""
        self.lane = lane
        self._unsettled.clear()

    def ended(self, text: str) -> None:
        """RabbitMQ ended it (its queue is gone)."""
        log.info("RabbitMQ ended the consumer of '%s': %s", self.queue, text)
        self._running.discard(self)
        self._unsettled.clear()
        if self.on_cancel is not None:
            self.on_cancel()

    def abandon(self) -> None:
        """Its subscriber gave up before RabbitMQ started it: stop it, and put back in the
        queue whatever still comes."""
        self._running.discard(self)
        self._abandoned = True
        if self.lane is not None:
            self.lane.stop(self)

    async def cancel(self) -> None:
        """Stop, and requeue what was delivered but not acked (basic.cancel alone keeps it)."""
        self._running.discard(self)
        if self.lane is not None and self.lane.is_open:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CANCEL_WAIT):
                    await self.lane.cancel(self)
        for delivery in list(self._unsettled.values()):
            await delivery.nack(requeue=True)


class Lane(asyncio.Protocol):
    def __init__(self, amqp: LaneConnection, on_lost: Callable[[], None], timeout: float = 10.0):
        self._amqp = amqp
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self.timeout = timeout  # seconds RabbitMQ has to confirm a publish
        self._pending: dict[int, asyncio.Future[None]] = {}  # by delivery tag, in publishing order
        self._deadlines: Deadlines[int] = Deadlines(timeout, self._confirmed, self._not_confirmed)
        self._opened: asyncio.Future[None] = self._loop.create_future()  # the first Ready, or why not
        self._ready = asyncio.Event()  # the publishing channel open (it reopens after a refusal)
        self._consumers: dict[str, LaneConsumer] = {}  # by tag, until RabbitMQ ends them
        self._starting: dict[str, asyncio.Future[None]] = {}  # by tag, until consume-ok
        self._cancelled: dict[str, asyncio.Future[None]] = {}  # by tag, until cancel-ok
        self._writable = asyncio.Event()
        self._writable.set()
        self._flush_due = False
        self._heard = self._loop.time()
        self._beat: asyncio.TimerHandle | None = None
        self._closing = False
        self._gone = self._loop.create_future()
        self.on_lost = on_lost  # told once, when the connection ends other than by `close`

    @classmethod
    async def open(cls, url: URL, *, timeout: float, on_lost: Callable[[], None]) -> Lane:
        amqp = LaneConnection(url.user or "guest", url.password or "guest", url.path[1:] or "/")
        lane = cls(amqp, on_lost, timeout)
        secure = url.scheme == "amqps"
        port = url.port or (5671 if secure else 5672)
        try:
            async with asyncio.timeout(timeout):
                await lane._loop.create_connection(
                    lambda: lane, url.host, port, ssl=ssl.create_default_context() if secure else None
                )
                await lane._opened
        except BaseException:
            lane._closing = True
            if lane._transport is not None:
                lane._transport.abort()
            raise
        return lane

    @property
    def local_port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._gone.done()

    async def publish(
        self, exchange: str, key: str, properties: commands.Basic.Properties, body: bytes
    ) -> None:
        if not (self._writable.is_set() and self._ready.is_set()):
            async with asyncio.timeout(self.timeout):
                await self._writable.wait()  # RabbitMQ is not reading: wait, as a socket write would
                await self._ready.wait()  # a channel opening again after a refusal
        if not self.is_open:
            raise BrokerUnavailable("RabbitMQ is unreachable; retry once it is back")
        tag = self._amqp.publish(exchange, key, properties, body)
        confirmed = self._pending[tag] = self._loop.create_future()
        self._deadlines.add(tag)
        self._flush_soon()
        await confirmed

    def _confirmed(self, tag: int) -> bool:
        confirmed = self._pending.get(tag)
        return confirmed is None or confirmed.done()

    def _not_confirmed(self, tag: int) -> None:
        """A publish RabbitMQ has not confirmed in time (a memory alarm blocks publishers, say)."""
        confirmed = self._pending.pop(tag)
        confirmed.set_exception(TimeoutError(f"RabbitMQ did not confirm in {self.timeout:g} s"))

    def consume(self, consumer: LaneConsumer) -> None:
        consumer.moved(self)
        self._consumers[consumer.tag] = consumer
        self._amqp.consume(consumer.queue, consumer.tag, prefetch=consumer.prefetch, acked=consumer.acked)
        self._flush_soon()

    async def start(self, consumer: LaneConsumer) -> None:
        """Consume, and wait until RabbitMQ has started the consumer: a SUBSCRIBE's receipt
        means that a message sent after it reaches this consumer too. Lost with the lane, it
        is consumed again on the next one."""
        started = self._starting[consumer.tag] = self._loop.create_future()
        self.consume(consumer)
        try:
            await started
        except BaseException:  # refused, or its subscriber stopped waiting
            consumer.abandon()
            raise
        finally:
            self._starting.pop(consumer.tag, None)

    def settle(self, delivery_tag: int, opening: int, requeue: bool | None) -> None:
        """Ack a delivery (`requeue` None) or nack it."""
        if self.is_open:
            if requeue is None:
                self._amqp.ack(delivery_tag, opening)
            else:
                self._amqp.nack(delivery_tag, opening, requeue=requeue)
            self._flush_soon()

    def stop(self, consumer: LaneConsumer) -> None:
        """Cancel without waiting for RabbitMQ's cancel-ok."""
        if self.is_open and self._consumers.get(consumer.tag) is consumer:
            self._amqp.cancel(consumer.tag)
            self._flush_soon()

    async def cancel(self, consumer: LaneConsumer) -> None:
        """Stop consuming; what RabbitMQ sent before its cancel-ok is still delivered."""
        if self._consumers.get(consumer.tag) is not consumer:
            return
        done = self._cancelled[consumer.tag] = self._loop.create_future()
        self._amqp.cancel(consumer.tag)
        self._flush_soon()
        try:
            await done
        finally:
            self._cancelled.pop(consumer.tag, None)
            self._consumers.pop(consumer.tag, None)

    async def close(self) -> None:
        if self._transport is None or self._gone.done():
            return
        self._closing = True
        self._amqp.close()
        self._flush()
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.shield(self._gone)
        except TimeoutError:
            pass
        self._transport.close()

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport's
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._heard = self._loop.time()
        try:
            events = self._amqp.receive(data)
        except ProtocolError as error:
            log.error("lane: %s; reconnecting", error)
            assert self._transport is not None
            self._transport.abort()
            return
        for event in events:
            self._on_event(event)
        if self._amqp.has_data_to_send:  # the handshake's replies, a heart-beat's
            self._flush_soon()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self._fail_pending(BrokerUnavailable("lost RabbitMQ while it had the message; retry once it is back"))
        if not self._opened.done():
            self._opened.set_exception(
                BrokerUnavailable(f"RabbitMQ closed the connection: {exc or 'closed'}")
            )
        if not self._gone.done():
            self._gone.set_result(None)
        self._writable.set()  # publishes waiting find the lane gone
        self._ready.set()
        for waiting in (*self._starting.values(), *self._cancelled.values()):
            if not waiting.done():
                waiting.set_result(None)
        if not self._closing:
            self.on_lost()

    # -- events --------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        match event:
            case Delivered(consumer=tag):
                consumer = self._consumers.get(tag)
                if consumer is not None:
                    try:
                        consumer.deliver(event, self)
                    except Exception:  # one consumer's failure is not the lane's
                        log.exception("the consumer of '%s' failed on a delivery", consumer.queue)
            case Confirmed(tag=tag, multiple=multiple, ok=ok):
                # In publishing order: those up to `tag` are the first ones.
                tags = list(itertools.takewhile(lambda t: t <= tag, self._pending)) if multiple else [tag]
                for confirmed_tag in tags:
                    confirmed = self._pending.pop(confirmed_tag, None)
                    if confirmed is None or confirmed.done():  # its publisher stopped waiting
                        continue
                    if ok:
                        confirmed.set_result(None)
                    else:
                        confirmed.set_exception(QueueFull(NACKED))
            case Ready():
                self._ready.set()
                if not self._opened.done():
                    self._opened.set_result(None)
                    if self._amqp.heartbeat:
                        self._beat = self._loop.call_later(self._amqp.heartbeat / 2, self._keep_alive)
            case PublishRefused(code=code, text=text):
                self._ready.clear()
                log.info("RabbitMQ refused a publish (%s %s); the lane's channel opens again", code, text)
                self._fail_pending(_refusal(code, text))
            case Consuming(tag=tag):
                if (started := self._starting.get(tag)) is not None and not started.done():
                    started.set_result(None)
            case ConsumerEnded(tag=tag, code=200):
                self._consumers.pop(tag, None)
                if (cancelled := self._cancelled.get(tag)) is not None and not cancelled.done():
                    cancelled.set_result(None)
            case ConsumerEnded(tag=tag, code=code, text=text):
                consumer = self._consumers.pop(tag, None)
                if (started := self._starting.get(tag)) is not None and not started.done():
                    started.set_exception(_refusal(code, text))  # its subscriber is told, not cancelled
                elif consumer is not None:
                    consumer.ended(text)
            case ConnectionClosed(code=code, text=text):
                refusal = BrokerUnavailable(f"RabbitMQ closed the connection: {code} {text}")
                if not self._opened.done():
                    self._opened.set_exception(refusal)
                self._fail_pending(refusal)
                self._flush()
                assert self._transport is not None
                self._transport.close()

    def _fail_pending(self, error: Exception) -> None:
        """Every publish waiting for its confirm fails (the channel reopens with tags from 1)."""
        self._deadlines.clear()
        pending, self._pending = self._pending, {}
        for confirmed in pending.values():
            if not confirmed.done():
                confirmed.set_exception(error)

    def _keep_alive(self) -> None:
        """A heart-beat every half interval; nothing heard for two intervals means RabbitMQ is gone."""
        assert self._transport is not None
        interval = self._amqp.heartbeat
        if self._loop.time() - self._heard > 2 * interval:
            log.warning("lane: RabbitMQ silent for %d s; reconnecting", 2 * interval)
            self._transport.abort()
            return
        self._amqp.send_heartbeat()
        self._flush_soon()
        self._beat = self._loop.call_later(interval / 2, self._keep_alive)

    # -- writing -------------------------------------------------------------

    def _flush_soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        data = self._amqp.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


def _refusal(code: int, text: str) -> BrokerError:
    match code:
        case 404:
            return NotFound(text)
        case 406:
            return PreconditionFailed(text)
        case _:
            return BrokerError(text or f"RabbitMQ refused the publish ({code})")
