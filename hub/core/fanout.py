"""Node-level fan-out: one broker queue per exchange per node, whatever the number of subscribers.

A STOMP subscription to `/exchange/x/key` or `/topic/key` does not get a broker
queue of its own (Web-STOMP gives it one). The node keeps one queue per
exchange, `hutch.node.<node>.<exchange>.<n>`, bound once per distinct binding key,
and when a message arrives it picks the local subscriptions by the exchange's
own matching rules and hands each the same `OutgoingMessage`, serialized once.
Broker cost thus grows with distinct keys, not with connections.

An exchange's deliveries may be read before they are delivered: a chat message stored on send
shows the exchange it was sent through and implies its "stored" ack, which the broker never
carries (`conversations.stored`); the node makes it for its own subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from hutch.hub.broker.base import Broker, Consumer, Delivery
from hutch.hub.broker.routing import BindingIndex, binding_matches
from hutch.hub.messages.encoding import LocalCopy

log = logging.getLogger(__name__)

NODE_QUEUE_EXPIRY = 120.0  # seconds: how long RabbitMQ keeps the queue of a node that went away


class Target(Protocol):
    """A local subscription: takes each matching message, serialized once per form."""

    def deliver(self, message: LocalCopy) -> None: ...


Reads = Callable[[Delivery], Iterable[Delivery]]  # a delivery -> what the node delivers for it


class _Tap:
    """The node's queue on one exchange and the local subscriptions behind it."""

    def __init__(self, exchange: str, exchange_type: str, queue: str, reads: Reads | None = None):
        self.exchange = exchange
        self.type = exchange_type
        self.queue = queue
        self.reads = reads
        self.consumer: Consumer | None = None
        # binding key -> its subscribers, an ordered set: thousands on one key come and go in
        # constant time each (a network drop ends them all at once)
        self.targets: dict[str, dict[Target, None]] = {}
        self._matched: dict[str, list[tuple[Target, ...]]] = {}  # routing key -> target groups
        self._bindings: BindingIndex[str] = BindingIndex(exchange_type)

    def add(self, key: str, target: Target) -> bool:
        """Register a target; True when the key is new and needs a broker binding."""
        targets = self.targets.get(key)
        new = targets is None
        if targets is None:
            targets = self.targets[key] = {}
            self._bindings.add(key, key)
        targets[target] = None
        self._matched.clear()
        return new

    def remove(self, key: str, target: Target) -> bool:
        """Forget a target; True when it was the key's last and the binding can go."""
        remaining = self.targets.get(key, {})
        remaining.pop(target, None)
        self._matched.clear()
        if remaining:
            return False
        self.targets.pop(key, None)
        self._bindings.discard(key, key)
        return True

    def on_delivery(self, delivery: Delivery) -> None:
        if self.reads is None:
            self._deliver(delivery)
            return
        for each in self.reads(delivery):
            self._deliver(each)

    def _deliver(self, delivery: Delivery) -> None:
        key = delivery.routing_key
        groups = self._matched.get(key)
        if groups is None:
            groups = [
                tuple(self.targets[binding])
                for binding in self._bindings.candidates(key)
                if binding_matches(self.type if self.type != "headers" else "fanout", binding, key)
            ]  # a snapshot: delivering may end a subscription
            if len(self._matched) > 10_000:
                self._matched.clear()
            self._matched[key] = groups
        if groups:
            shared = LocalCopy.of(delivery)
            for targets in groups:
                for target in targets:
                    target.deliver(shared)


class NodeFanout:
    def __init__(self, broker: Broker, node_id: str, reads: Mapping[str, Reads] | None = None):
        self.broker = broker
        self.node_id = node_id
        self.reads = dict(reads or {})  # exchange -> how its deliveries are read
        self._taps: dict[str, _Tap] = {}
        self._opened = 0
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def queue_name(self, exchange: str) -> str:
        # A fresh name each time a tap opens, so that nothing of an earlier one can interfere.
        self._opened += 1
        return f"hutch.node.{self.node_id}.{exchange}.{self._opened}"

    async def attach(self, exchange: str, key: str, target: Target) -> None:
        """Deliver what `exchange` routes with `key` to target; returns once bound."""
        async with self._locks[exchange]:
            tap = self._taps.get(exchange) or await self._open_tap(exchange)
            if not tap.add(key, target):
                return
            try:
                await self.broker.bind_queue(tap.queue, exchange, key)
            except BaseException:
                tap.remove(key, target)
                if not tap.targets:
                    await self._close_tap(tap)
                raise

    async def detach(self, exchange: str, key: str, target: Target) -> None:
        async with self._locks[exchange]:
            tap = self._taps.get(exchange)
            if tap is None or not tap.remove(key, target):
                return
            if tap.targets:
                await self.broker.unbind_queue(tap.queue, exchange, key)
            else:
                await self._close_tap(tap)

    async def _open_tap(self, exchange: str) -> _Tap:
        exchange_type = await self.broker.exchange_type(exchange)
        # Durable and not exclusive: it outlives a lost connection or a RabbitMQ restart with
        # its bindings, so what arrives meanwhile waits for this node; if the node itself is
        # gone, RabbitMQ drops the queue after NODE_QUEUE_EXPIRY seconds unused.
        name = self.queue_name(exchange)
        queue = await self.broker.declare_queue(
            name, durable=True, expires=NODE_QUEUE_EXPIRY, node_local=True
        )
        tap = _Tap(exchange, exchange_type, queue, self.reads.get(exchange))
        tap.consumer = await self.broker.consume(queue, tap.on_delivery, no_ack=True)
        self._taps[exchange] = tap
        return tap

    async def _close_tap(self, tap: _Tap) -> None:
        del self._taps[tap.exchange]
        if tap.consumer is not None:
            await tap.consumer.cancel()
        await self.broker.delete_queue(tap.queue)

    def read(self, delivery: Delivery) -> Iterable[Delivery]:
        """What the node delivers for `delivery`, as deliveries of its exchange are read (for a
        subscription's own queue: a tap reads its exchange's alone)."""
        reads = self.reads.get(delivery.exchange)
        return (delivery,) if reads is None else reads(delivery)

    def queue_count(self) -> int:
        return len(self._taps)
