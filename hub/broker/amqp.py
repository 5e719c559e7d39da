"""RabbitMQ behind the `Broker` protocol, over aio-pika.

One robust connection (aio-pika reconnects it and, on its channels, re-declares
the exchanges, queues and bindings made through them and restarts their
consumers) and a few channels, each with one job:

    topology   declarations and bindings the hub needs kept: restored after a reconnect
    scratch    a short-lived channel per operation RabbitMQ may refuse (passive declares, type
               probes, first tries of declarations): a refusal closes only that channel
    consumers  one channel for every consumer; each gets the prefetch it asked for with a
               per-consumer `basic.qos` just before its `basic.consume` (so the number of
               channels never grows with what clients ask)

Publishes, and the consumers of the hub's own queues (its taps, streams and work queues), go
on a second connection, the lane (`amqp_lane`): `publish` returns once RabbitMQ has
confirmed the message. The lane is opened again whenever it or the robust connection was lost,
to the RabbitMQ node the robust connection reached, once that has declared the queues again.

While RabbitMQ is away every operation fails fast with `BrokerUnavailable`, so
a client gets an ERROR, never a receipt for a message that went nowhere. The consumers
are `amqp_consumers`; how STOMP headers become AMQP properties, `amqp_properties`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractRobustChannel,
    AbstractRobustExchange,
    AbstractRobustQueue,
)
from hutch.hub.broker.amqp_consumers import AmqpConsumer, ChannelConsumers
from hutch.hub.broker.amqp_lane import Lane, LaneConsumer
from hutch.hub.broker.amqp_nodes import NodesConnection, censored
from hutch.hub.broker.amqp_properties import to_amqp
from hutch.hub.broker.base import (
    PREDECLARED,
    Arguments,
    ExchangeType,
    Message,
    OnCancel,
    OnDelivery,
    fresh_queue_name,
)
from hutch.hub.broker.errors import (
    BrokerError,
    BrokerUnavailable,
    NotFound,
    PreconditionFailed,
    ResourceLocked,
)
from yarl import URL

log = logging.getLogger(__name__)

T = TypeVar("T")

NODE_CLEANUP_WAIT = 30.0  # seconds, at most, for a lost RabbitMQ node's queues to be removed
_CHANNEL_GONE = (aiormq.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError, ConnectionError)
_CURRENT_TYPE = re.compile(r"inequivalent arg 'type'.*current is '(\w+)'")


class AmqpBroker:
    publish_waits = True  # for RabbitMQ's confirm, a round trip
    kind = "amqp"

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        quorum: bool = False,
        reconnect_interval: float = 1.0,
        operation_timeout: float = 10.0,
    ):
        # Several URLs: the nodes of one cluster, tried in turn (a comma-separated string too).
        self.urls = [u.strip() for u in url.split(",") if u.strip()] if isinstance(url, str) else list(url)
        self.quorum = quorum  # durable work queues as quorum queues
        self.login = URL(self.urls[0]).user or "guest"
        # In a cluster a node queue lives on the RabbitMQ node the hub is connected to: durable,
        # it would be unreachable while that node is down, so it is transient (it goes with its
        # node) and declared again on the next one. What was on its way to it is then lost.
        self.transient_node_queues = len(self.urls) > 1
        self.on_moved: list[Callable[[], None]] = []  # told when node queues may have lost messages
        self.reconnect_interval = reconnect_interval
        self.operation_timeout = operation_timeout
        self._connection: NodesConnection | None = None
        self._topology: AbstractRobustChannel | None = None
        self._lane: Lane | None = None
        self._lane_consumers: set[LaneConsumer] = set()  # consumed again on every lane opened
        self._lane_reopening: asyncio.Task[None] | None = None
        self._consumer_channel: AbstractRobustChannel | None = None
        self._types: dict[str, ExchangeType] = dict(PREDECLARED)
        self._queue_flags: dict[str, tuple[bool, bool, bool, dict[str, int] | None]] = {}
        self._queues: dict[str, AbstractRobustQueue] = {}  # declared on the topology channel
        self._exchanges: dict[str, AbstractRobustExchange] = {}
        self._consumer_queues: dict[str, AbstractRobustQueue] = {}  # ours, declared on the consumer channel
        self._consumers = ChannelConsumers()
        self._node_queues: set[str] = set()  # transient, this hub node's own
        self._restored = False
        self._channel_lock = asyncio.Lock()

    # -- connection ----------------------------------------------------------

    async def connect(self) -> None:
        errors = []
        for first in range(len(self.urls)):  # the first that answers, then round the list
            nodes = self.urls[first:] + self.urls[:first]
            connection = NodesConnection(
                URL(nodes[0]), nodes=nodes, reconnect_interval=self.reconnect_interval
            )
            try:
                await connection.connect()
                break
            except (OSError, aiormq.exceptions.AMQPError) as error:
                errors.append(f"{censored(nodes[0])}: {error}")
        else:
            raise BrokerUnavailable(f"cannot reach RabbitMQ at {'; '.join(errors)}")
        self._connection = connection
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection.before_restore = self._await_node_queues_gone
        self._connection.close_callbacks.add(self._on_lost)
        self._restored = True
        self._topology = await self._connection.channel(publisher_confirms=False)
        await self._open_lane()
        log.info("connected to RabbitMQ at %s", connection)

    def _on_lost(self, *_: Any) -> None:
        if self._restored:
            log.warning("lost RabbitMQ; reconnecting every %.1f s", self.reconnect_interval)
        self._restored = False

    def _on_reconnect(self, *_: Any) -> None:
        # aio-pika calls this once every channel has declared, bound and consumed again.
        log.warning(
            "reconnected to RabbitMQ at %s: topology, bindings and consumers restored", self._connection
        )
        self._restored = True
        if self._lane is None or not self._lane.is_open:
            self._reopen_lane(wait=0.0)
        if self.transient_node_queues:
            for callback in self.on_moved:
                callback()

    async def _await_node_queues_gone(self, connection: aiormq.abc.AbstractConnection) -> None:
        """On reaching another RabbitMQ node: wait until the cluster has removed this hub node's
        queues that lived on the lost one. Declared again before that, a queue would be
        refused, or made and then removed with its bindings by the cluster's late clean-up."""
        deadline = asyncio.get_running_loop().time() + NODE_CLEANUP_WAIT
        for name in [name for name, flags in self._queue_flags.items() if name in self._node_queues]:
            while asyncio.get_running_loop().time() < deadline:
                channel = await connection.channel()
                try:
                    await channel.queue_declare(name, passive=True)
                    break  # it lives, on a node still up
                except aiormq.exceptions.ChannelNotFoundEntity as error:
                    if "no queue" in _reply_text(error):
                        break  # gone: aio-pika makes it again on this node
                    await asyncio.sleep(0.2)  # still listed, on the lost node
                finally:
                    if not channel.is_closed:
                        await channel.close()

    async def _open_lane(self) -> None:
        assert self._connection is not None and self._connection.current is not None
        lane = await Lane.open(
            self._connection.current, timeout=self.operation_timeout, on_lost=self._reopen_lane
        )
        for consumer in self._lane_consumers:
            lane.consume(consumer)
        self._lane = lane

    def _reopen_lane(self, wait: float | None = None) -> None:
        """Open the lane again, once the robust connection is up, trying every
        reconnect interval; a first try after `wait` seconds."""
        if self._lane_reopening is not None and not self._lane_reopening.done():
            if wait is None:
                return
            self._lane_reopening.cancel()  # the robust connection is back: no need to wait
        self._lane_reopening = asyncio.create_task(
            self._keep_reopening(self.reconnect_interval if wait is None else wait)
        )

    async def _keep_reopening(self, wait: float) -> None:
        while True:
            await asyncio.sleep(wait)
            wait = self.reconnect_interval
            connection = self._connection
            if connection is None:  # closed on purpose
                return
            if not connection.connected.is_set():
                continue  # `_on_reconnect` calls again, at once, when it is back
            try:
                await self._open_lane()
                log.info("lane open to RabbitMQ at %s", connection)
                return
            except (OSError, BrokerError) as error:
                log.warning("lane: cannot reach RabbitMQ yet: %s", error)

    def status(self) -> dict[str, Any]:
        """For /health: the RabbitMQ node in use and the moves between nodes."""
        connection = self._connection
        if connection is None:
            return {"rabbitmq": None}
        return {
            "rabbitmq": str(connection),
            "rabbitmq_nodes": len(self.urls),
            "rabbitmq_moves": [move.as_json() for move in connection.moves],
        }

    async def start(self) -> None:
        await self.connect()

    @property
    def is_up(self) -> bool:
        return self.connected

    @property
    def connected(self) -> bool:
        """Connected, with everything declared before a loss restored, and able to publish."""
        return (
            self._restored
            and self._connection is not None
            and self._connection.connected.is_set()
            and self._lane is not None
            and self._lane.is_open
        )

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            if self._lane_reopening is not None:
                self._lane_reopening.cancel()
            if self._lane is not None:
                await self._lane.close()
            connection.close_callbacks.discard(self._on_lost)  # closing on purpose: nothing was lost
            await connection.close()

    @contextlib.asynccontextmanager
    async def _scratch(self) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
        """A plain channel for one operation that RabbitMQ may refuse by closing the channel.

        One at a time: channels opened side by side can be given the same number.
        """
        assert self._connection is not None
        async with self._channel_lock:
            channel = aio_pika.channel.Channel(self._connection, publisher_confirms=False)
            await channel.initialize()
            try:
                yield channel
            finally:
                if not channel.is_closed:
                    with contextlib.suppress(*_CHANNEL_GONE):
                        await channel.close()

    async def _run(self, operation: Callable[[], Awaitable[T]], *, timed: bool = True) -> T:
        """One operation, with its failure mapped to the hub's broker errors; `timed` False for
        one that keeps its own time (the lane's publishes: one timer for all, not one each).

        A channel that RabbitMQ closed on a refusal is reopened by aio-pika in the
        background; an operation that meets it closed waits a moment and tries again.
        """
        deadline = asyncio.get_running_loop().time() + self.operation_timeout
        while True:
            if not self.connected:
                raise BrokerUnavailable("RabbitMQ is unreachable; retry once it is back")
            try:
                if not timed:
                    return await operation()
                async with asyncio.timeout(self.operation_timeout):
                    return await operation()
            except (
                aio_pika.exceptions.ChannelInvalidStateError,
                aiormq.exceptions.ChannelInvalidStateError,
            ) as error:
                if asyncio.get_running_loop().time() > deadline:
                    raise BrokerUnavailable(f"RabbitMQ channel unusable: {error}") from error
                await asyncio.sleep(0.05)
            except aiormq.exceptions.ChannelNotFoundEntity as error:
                raise NotFound(_reply_text(error)) from error
            except aiormq.exceptions.ChannelPreconditionFailed as error:
                raise PreconditionFailed(_reply_text(error)) from error
            except aiormq.exceptions.ChannelLockedResource as error:
                raise ResourceLocked(_reply_text(error)) from error
            except aiormq.exceptions.ChannelAccessRefused as error:
                raise BrokerError(_reply_text(error)) from error
            except ValueError as error:  # pamqp refuses a name AMQP does not allow
                raise BrokerError(f"not a valid AMQP name: {error}") from error
            except (TimeoutError, ConnectionError, aiormq.exceptions.AMQPConnectionError) as error:
                raise BrokerUnavailable(
                    f"RabbitMQ did not answer: {error or type(error).__name__}"
                ) from error

    # -- exchanges -----------------------------------------------------------

    async def declare_exchange(
        self, name: str, type: ExchangeType, *, durable: bool = True, auto_delete: bool = False
    ) -> None:
        async def declare() -> None:
            # Straight on the topology channel: only the hub declares exchanges, never a client.
            assert self._topology is not None
            self._exchanges[name] = await self._topology.declare_exchange(
                name, type, durable=durable, auto_delete=auto_delete
            )

        await self._run(declare)
        self._types[name] = type

    async def exchange_type(self, name: str) -> ExchangeType:
        """AMQP cannot tell an exchange's type: ask for one and read RabbitMQ's refusal."""
        if name in self._types:
            return self._types[name]

        async def probe() -> ExchangeType:
            async with self._scratch() as scratch:
                await scratch.declare_exchange(name, passive=True)
            try:
                async with self._scratch() as scratch:
                    await scratch.declare_exchange(name, "direct", durable=True)
            except aiormq.exceptions.ChannelPreconditionFailed as refusal:
                if match := _CURRENT_TYPE.search(_reply_text(refusal)):
                    return match.group(1)  # type: ignore[return-value]
            return "direct"  # it took "direct", or refused only another flag

        self._types[name] = await self._run(probe)
        return self._types[name]

    async def delete_exchange(self, name: str) -> None:
        async def delete() -> None:
            assert self._topology is not None
            await self._topology.exchange_delete(name)

        await self._run(delete)
        self._types.pop(name, None)
        self._exchanges.pop(name, None)

    async def _exchange(self, name: str) -> AbstractRobustExchange:
        exchange = self._exchanges.get(name)
        if exchange is None:
            assert self._topology is not None
            await self.exchange_type(name)  # NotFound unless it exists
            exchange = self._exchanges[name] = await self._run(
                lambda: self._topology.get_exchange(name, ensure=False)  # type: ignore[union-attr]
            )
        return exchange

    # -- queues --------------------------------------------------------------

    async def declare_queue(
        self,
        name: str = "",
        *,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        passive: bool = False,
        expires: float | None = None,
        single_active_consumer: bool = False,
        node_local: bool = False,
    ) -> str:
        extra: dict[str, Any] | None = {"x-expires": int(expires * 1000)} if expires else None
        if single_active_consumer:
            extra = (extra or {}) | {"x-single-active-consumer": True}
        if node_local and self.transient_node_queues:
            durable = False
            self._node_queues.add(name)
        elif self.quorum and durable and not (exclusive or auto_delete or node_local or passive):
            extra = (extra or {}) | {"x-queue-type": "quorum"}
        if passive:
            await self._run(lambda: self._check_queue(name))
            return name

        name = name or fresh_queue_name()

        async def declare() -> str:
            assert self._topology is not None
            if not exclusive:  # an exclusive queue is new or ours; anything else may be refused
                async with self._scratch() as scratch:
                    await scratch.declare_queue(
                        name, durable=durable, exclusive=exclusive, auto_delete=auto_delete, arguments=extra
                    )
            queue = await self._topology.declare_queue(
                name, durable=durable, exclusive=exclusive, auto_delete=auto_delete, arguments=extra
            )
            self._queues[queue.name] = queue
            return queue.name

        declared = await self._run(declare)
        self._queue_flags[declared] = (durable, exclusive, auto_delete, extra)
        return declared

    async def delete_queue(self, name: str) -> None:
        async def delete() -> None:
            assert self._topology is not None
            # queue_delete on every channel that declared it, so that none declares it again
            # after a reconnect.
            if self._consumer_queues.pop(name, None) is not None:
                assert self._consumer_channel is not None
                await self._consumer_channel.queue_delete(name)
            self._queues.pop(name, None)
            await self._topology.queue_delete(name)

        await self._run(delete)
        self._queue_flags.pop(name, None)

    async def _topology_queue(self, name: str) -> AbstractRobustQueue:
        queue = self._queues.get(name)
        if queue is None:
            await self.declare_queue(name, passive=True)  # NotFound unless it exists
            assert self._topology is not None
            queue = self._queues[name] = await self._run(
                lambda: self._topology.get_queue(name, ensure=False)  # type: ignore[union-attr]
            )
        return queue

    # -- bindings ------------------------------------------------------------

    async def bind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        target = await self._topology_queue(queue)
        source = await self._exchange(exchange)
        await self._run(lambda: target.bind(source, key, arguments=dict(arguments or {})))

    async def unbind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        target = await self._topology_queue(queue)
        await self._run(lambda: target.unbind(exchange, key, arguments=dict(arguments or {})))

    async def bind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        target = await self._exchange(destination)
        await self._exchange(source)
        await self._run(lambda: target.bind(source, key, arguments=dict(arguments or {})))

    async def unbind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        target = await self._exchange(destination)
        await self._run(lambda: target.unbind(source, key, arguments=dict(arguments or {})))

    # -- messages ------------------------------------------------------------

    async def publish(self, exchange: str, key: str, message: Message) -> None:
        if exchange not in self._types:
            await self.exchange_type(exchange)  # NotFound before the publish can close a channel

        async def send() -> None:
            assert self._lane is not None  # `_run` checked `connected`
            # Not mandatory: an unroutable message is dropped, as RabbitMQ's STOMP plugin does.
            await self._lane.publish(exchange, key, to_amqp(message), message.body)

        await self._run(send, timed=False)

    async def consume(
        self,
        queue: str,
        on_delivery: OnDelivery,
        *,
        prefetch: int = 0,
        no_ack: bool = False,
        on_cancel: OnCancel | None = None,
    ) -> AmqpConsumer | LaneConsumer:
        async def start() -> AmqpConsumer | LaneConsumer:
            flags = self._queue_flags.get(queue)
            if flags is None:
                # Not ours: it must exist. Asked on a channel of its own (a refusal closes the
                # channel) and not left for aio-pika to declare again after a reconnect, where
                # a queue deleted meanwhile would break the whole channel.
                await self.declare_queue(queue, passive=True)
            channel = await self._consumers_channel()
            if flags is not None and queue not in self._consumer_queues:
                # Ours: declared on this channel too, so that aio-pika declares it again after
                # a reconnect (an exclusive or auto-delete queue is gone with the connection),
                # before the consumer starts again.
                durable, exclusive, auto_delete, extra = flags
                self._consumer_queues[queue] = await channel.declare_queue(
                    queue, durable=durable, exclusive=exclusive, auto_delete=auto_delete, arguments=extra
                )
            if flags is not None and not (flags[1] or flags[2]):
                # The hub's own queue (its taps, streams, work queues): on the lane, where every
                # message goes. Not an exclusive queue (the robust connection's alone) nor an
                # auto-delete one (gone when the lane is lost).
                assert self._lane is not None  # `_run` checked `connected`
                on_lane = LaneConsumer(
                    queue, on_delivery, on_cancel, self._lane_consumers, acked=not no_ack, prefetch=prefetch
                )
                self._lane_consumers.add(on_lane)
                await self._lane.start(on_lane)
                return on_lane
            consumer = AmqpConsumer(queue, on_delivery, no_ack, self._consumers, on_cancel, prefetch)
            await consumer.start(await _underlay(channel))
            self._consumers.running.add(consumer)
            return consumer

        return await self._run(start)

    async def _consumers_channel(self) -> AbstractRobustChannel:
        async with self._channel_lock:  # one channel opening at a time (see _scratch)
            if self._consumer_channel is None:
                assert self._connection is not None
                channel = await self._connection.channel(publisher_confirms=False)
                # aio-pika has declared and bound the queues again when this runs.
                channel.reopen_callbacks.add(self._restart_consumers)
                self._consumer_channel = channel
        return self._consumer_channel

    async def _restart_consumers(self, channel: AbstractRobustChannel) -> None:
        underlay = await _underlay(channel)
        for consumer in list(self._consumers.running):
            try:
                # A queue not ours may have been deleted while RabbitMQ was away; consuming it
                # would close this channel, and aio-pika does not reopen one closed while it
                # is reopening it: every consumer on it would be lost.
                if consumer.queue not in self._queue_flags:
                    await self._check_queue(consumer.queue)
                await consumer.start(underlay)
            except Exception as error:
                self._consumers.running.discard(consumer)
                log.error("stopped consuming '%s' after a reconnect: %s", consumer.queue, error)

    async def queue_length(self, name: str) -> int:
        async def length() -> int:
            async with self._scratch() as scratch:
                declared = await scratch.declare_queue(name, passive=True)
                return int(declared.declaration_result.message_count or 0)

        return await self._run(length)

    async def _check_queue(self, name: str) -> None:
        """Raise unless the queue exists, asked on a scratch channel (a refusal closes it)."""
        async with self._scratch() as scratch:
            await scratch.declare_queue(name, passive=True)


async def _underlay(channel: AbstractRobustChannel) -> aiormq.abc.AbstractChannel:
    # The plain Channel's accessor: the robust one waits for the connection to be restored,
    # which itself waits for the consumers restarted here.
    return await aio_pika.channel.Channel.get_underlay_channel(channel)  # type: ignore[arg-type]


def _reply_text(error: aiormq.exceptions.AMQPError) -> str:
    frame = error.args[0] if error.args else None
    text = getattr(frame, "reply_text", None) or (error.args[1] if len(error.args) > 1 else None)
    return str(text or error)
