"""The embedded broker: AMQP 0-9-1 exchanges, queues and bindings inside the process.

It keeps RabbitMQ's semantics wherever the hub or a client can see them:
exchange types, exchange-to-exchange bindings (a queue gets one copy however
many paths lead to it), round-robin consumers with prefetch, requeue with
`redelivered`, auto-delete queues that go with their last consumer, exclusive
queues that go with the broker connection, and refusal of a redeclare with
other flags. Consumers are called synchronously from `publish`, so a message
is in every local outbox by the time its publisher is answered.

Every queue is bounded as with RabbitMQ's `x-max-length` and `x-max-length-bytes` and
`x-overflow: reject-publish`: past either limit a new message is not taken by that queue
(the others it is routed to still take it) and the publish fails with `QueueFull`.
Messages delivered and not yet acked do not count, as in RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hutch.hub.broker.base import (
    EXCHANGE_TYPES,
    PREDECLARED,
    Arguments,
    ExchangeType,
    Message,
    OnCancel,
    OnDelivery,
    fresh_queue_name,
)
from hutch.hub.broker.errors import BrokerUnavailable, NotFound, PreconditionFailed, QueueFull
from hutch.hub.broker.memory_queues import Consumer, Queue, Queued
from hutch.hub.broker.routing import BindingIndex, binding_matches

ROUTES_KEPT = 100_000  # routes remembered before the memory of them starts again
MAX_LENGTH = 100_000  # ready messages in one queue
MAX_BYTES = 256 * 1024 * 1024  # bytes of ready message bodies in one queue


@dataclass(slots=True, frozen=True)
class _Binding:
    destination: str
    to_queue: bool
    key: str
    arguments: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Exchange:
    name: str
    type: ExchangeType
    durable: bool
    auto_delete: bool
    bindings: BindingIndex[_Binding] = field(init=False)

    def __post_init__(self) -> None:
        self.bindings = BindingIndex(self.type)

    def bind(self, binding: _Binding) -> None:
        self.bindings.add(binding.key, binding)

    def unbind(self, binding: _Binding) -> None:
        self.bindings.discard(binding.key, binding)


class MemoryBroker:
    """The `Broker` protocol, in process. One instance is one broker connection."""

    publish_waits = False  # a publish is routed and delivered before it returns
    kind = "memory"
    login = "hutch"

    def __init__(self, *, max_length: int = MAX_LENGTH, max_bytes: int = MAX_BYTES) -> None:
        self.max_length = max_length
        self.max_bytes = max_bytes
        self._exchanges: dict[str, _Exchange] = {
            name: _Exchange(name, kind, durable=True, auto_delete=False) for name, kind in PREDECLARED.items()
        }
        self._queues: dict[str, Queue] = {}
        # (exchange, routing key) -> the queues it reaches; forgotten at any change of topology.
        self._routes: dict[tuple[str, str], list[Queue]] = {}
        self._closed = False
        self.on_moved: list[Callable[[], None]] = []  # one process: it never moves

    async def start(self) -> None:
        """In process: nothing to connect to."""

    @property
    def is_up(self) -> bool:
        return not self._closed

    def status(self) -> dict[str, Any]:
        return {}

    # -- exchanges -----------------------------------------------------------

    async def declare_exchange(
        self, name: str, type: ExchangeType, *, durable: bool = True, auto_delete: bool = False
    ) -> None:
        self._check_open()
        if type not in EXCHANGE_TYPES:
            raise PreconditionFailed(f"unknown exchange type '{type}'")
        existing = self._exchanges.get(name)
        if existing is None:
            self._exchanges[name] = _Exchange(name, type, durable, auto_delete)
            self._topology_changed()
        elif (existing.type, existing.durable, existing.auto_delete) != (type, durable, auto_delete):
            raise PreconditionFailed(f"exchange '{name}' exists with type {existing.type}")

    async def exchange_type(self, name: str) -> ExchangeType:
        return self._exchange(name).type

    async def delete_exchange(self, name: str) -> None:
        self._check_open()
        if name in PREDECLARED:
            raise PreconditionFailed(f"exchange '{name}' is predeclared")
        self._exchanges.pop(name, None)
        self._topology_changed()
        for exchange in self._exchanges.values():
            for binding in [b for b in exchange.bindings if b.destination == name and not b.to_queue]:
                exchange.unbind(binding)

    # -- queues --------------------------------------------------------------

    async def queue_length(self, name: str) -> int:
        self._check_open()
        queue = self._queues.get(name)
        if queue is None:
            raise NotFound(f"NOT_FOUND - no queue '{name}' in vhost '/'")
        return len(queue.messages)

    async def declare_queue(
        self,
        name: str = "",
        *,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        passive: bool = False,
        expires: float | None = None,  # nothing outlives this process: nothing to expire
        single_active_consumer: bool = False,
        node_local: bool = False,  # one process: every queue is local
    ) -> str:
        self._check_open()
        existing = self._queues.get(name)
        if passive:
            if existing is None:
                raise NotFound(f"NOT_FOUND - no queue '{name}' in vhost '/'")
            return name
        if existing is not None:
            flags = (existing.durable, existing.exclusive, existing.auto_delete)
            if flags != (durable, exclusive, auto_delete):
                raise PreconditionFailed(
                    f"queue '{name}' exists with other durable/exclusive/auto-delete flags"
                )
            return name
        name = name or fresh_queue_name()
        self._queues[name] = Queue(self, name, durable, exclusive, auto_delete, single_active_consumer)
        # Every queue is bound to the default exchange by its name.
        self._exchanges[""].bind(_Binding(name, True, name))
        self._topology_changed()
        return name

    async def delete_queue(self, name: str) -> None:
        self._check_open()
        for consumer in self._remove_queue(name):  # told, as RabbitMQ tells them with basic.cancel
            if consumer.on_cancel is not None:
                consumer.on_cancel()

    def _remove_queue(self, name: str) -> list[Consumer]:
        """Delete the queue; returns the consumers it had, stopped."""
        queue = self._queues.get(name)
        if queue is None:
            return []
        consumers = list(queue.consumers)
        for consumer in consumers:
            consumer.active = False
        queue.consumers.clear()
        self.drop_queue(name)
        return consumers

    def drop_queue(self, name: str) -> None:
        if self._queues.pop(name, None) is None:
            return
        self._topology_changed()
        for exchange in self._exchanges.values():
            for binding in [b for b in exchange.bindings if b.destination == name and b.to_queue]:
                exchange.unbind(binding)

    # -- bindings ------------------------------------------------------------

    async def bind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        self._queue(queue)
        self._exchange(exchange).bind(_binding(queue, True, key, arguments))
        self._topology_changed()

    async def unbind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        self._check_open()
        if exchange in self._exchanges:
            self._exchanges[exchange].unbind(_binding(queue, True, key, arguments))
        self._topology_changed()

    async def bind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        self._exchange(destination)
        self._exchange(source).bind(_binding(destination, False, key, arguments))
        self._topology_changed()

    async def unbind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None:
        self._check_open()
        if source in self._exchanges:
            self._exchanges[source].unbind(_binding(destination, False, key, arguments))
        self._topology_changed()

    # -- messages ------------------------------------------------------------

    async def publish(self, exchange: str, key: str, message: Message) -> None:
        queues = self._routes.get((exchange, key))
        if queues is None:
            queues = self._route(self._exchange(exchange), key, message.headers)
        full = None
        for queue in queues:
            if not queue.put(Queued(message, exchange, key)):
                full = queue.name
        if full is not None:
            raise QueueFull(
                f"queue '{full}' is full ({self.max_length} messages or {self.max_bytes} bytes wait): "
                "the message was not taken by it"
            )

    def _route(self, start: _Exchange, key: str, headers: dict[str, str]) -> list[Queue]:
        """Every queue the message reaches, once each, through exchange-to-exchange bindings."""
        queues: dict[str, Queue] = {}
        seen = {start.name}
        pending = [start]
        by_key_alone = True  # no headers exchange on the way: the route can be kept
        while pending:
            exchange = pending.pop()
            by_key_alone = by_key_alone and exchange.type != "headers"
            for binding in exchange.bindings.candidates(key):
                arguments = dict(binding.arguments) if binding.arguments else None
                if not binding_matches(exchange.type, binding.key, key, arguments, headers):
                    continue
                if binding.to_queue:
                    if (queue := self._queues.get(binding.destination)) is not None:
                        queues.setdefault(queue.name, queue)
                elif binding.destination not in seen and binding.destination in self._exchanges:
                    seen.add(binding.destination)
                    pending.append(self._exchanges[binding.destination])
        if by_key_alone:
            if len(self._routes) > ROUTES_KEPT:
                self._routes.clear()
            self._routes[(start.name, key)] = list(queues.values())
        return list(queues.values())

    def _topology_changed(self) -> None:
        self._routes.clear()

    async def consume(
        self,
        queue: str,
        on_delivery: OnDelivery,
        *,
        prefetch: int = 0,
        no_ack: bool = False,
        on_cancel: OnCancel | None = None,
    ) -> Consumer:
        target = self._queue(queue)
        consumer = Consumer(target, on_delivery, prefetch, no_ack, on_cancel)
        target.consumers.append(consumer)
        target.dispatch()
        return consumer

    async def close(self) -> None:
        """Close the connection: its exclusive queues go, as in RabbitMQ."""
        for name in [q.name for q in self._queues.values() if q.exclusive]:
            self._remove_queue(name)  # gone with the connection: nobody is told
        self._closed = True
        self._topology_changed()

    # -- lookups -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable("the embedded broker is closed")

    def _exchange(self, name: str) -> _Exchange:
        self._check_open()
        exchange = self._exchanges.get(name)
        if exchange is None:
            raise NotFound(f"NOT_FOUND - no exchange '{name}' in vhost '/'")
        return exchange

    def _queue(self, name: str) -> Queue:
        self._check_open()
        queue = self._queues.get(name)
        if queue is None:
            raise NotFound(f"NOT_FOUND - no queue '{name}' in vhost '/'")
        return queue


def _binding(destination: str, to_queue: bool, key: str, arguments: Arguments | None) -> _Binding:
    return _Binding(destination, to_queue, key, tuple(sorted((arguments or {}).items())))
