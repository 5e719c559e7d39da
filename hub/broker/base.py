"""The `Broker` protocol: what the hub needs of a message broker.

Two backends implement it with the same semantics: `memory.MemoryBroker`
(embedded, the default) and `amqp.AmqpBroker` (RabbitMQ over aio-pika). The
model is AMQP 0-9-1: exchanges route by type, queues hold messages, consumers
take them with or without acks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hutch.protocol.frames import whole_number

Arguments = Mapping[str, str]  # binding arguments, used by headers exchanges
ExchangeType = Literal["direct", "topic", "fanout", "headers"]
EXCHANGE_TYPES: tuple[ExchangeType, ...] = ("direct", "topic", "fanout", "headers")

# Exchanges every broker has, as in RabbitMQ; "" is the default exchange (queue name = key).
PREDECLARED: Mapping[str, ExchangeType] = {
    "": "direct",
    "amq.direct": "direct",
    "amq.topic": "topic",
    "amq.fanout": "fanout",
    "amq.headers": "headers",
    "amq.match": "headers",
}


REPLY_QUEUE_PREFIX = "hutch.gen-"


def fresh_queue_name() -> str:
    """A name for a queue declared without one. Named by the hub, not the broker, so that a
    robust connection can declare it again after a reconnect ("amq." names are reserved)."""
    return f"{REPLY_QUEUE_PREFIX}{secrets.token_urlsafe(12)}"


# STOMP header -> AMQP property of the short-string kind (255 bytes at most), as RabbitMQ's
# STOMP plugin maps them (user-id stays a header: RabbitMQ refuses a user-id that is not the
# connection's user); and the two numeric properties, in the ranges AMQP takes.
AMQP_PROPERTIES = {
    "content-type": "content_type",
    "content-encoding": "content_encoding",
    "correlation-id": "correlation_id",
    "reply-to": "reply_to",
    "amqp-message-id": "message_id",
    "type": "message_type",
    "app-id": "app_id",
}
NUMERIC_PROPERTIES = {"priority": 255, "expiration": 2**32 - 1}  # the most each may be


def header_problem(headers: Mapping[str, str]) -> str | None:
    """What makes these headers unfit to travel as an AMQP message, or None.

    Checked whatever the broker, so that both refuse the same SEND and RabbitMQ never closes
    the node's publishing channel over one client's header."""
    for name, value in headers.items():
        if len(name.encode()) > 255:
            return f"a header name is at most 255 bytes, not {len(name.encode())}"
        if name in AMQP_PROPERTIES and len(value.encode()) > 255:
            return f"'{name}' is at most 255 bytes"
        if (most := NUMERIC_PROPERTIES.get(name)) is not None and whole_number(value, most) is None:
            return f"'{name}' is a whole number from 0 to {most}, not '{value[:30]}'"
    return None


@dataclass(slots=True)
class Message:
    """A message as published: the body and its headers (STOMP-style names, string values)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def persistent(self) -> bool:
        return self.headers.get("persistent") == "true"


class Delivery(Protocol):
    """A message handed to a consumer; ack or nack it unless consumed with `no_ack`."""

    exchange: str
    routing_key: str
    message: Message
    redelivered: bool

    async def ack(self) -> None: ...

    async def nack(self, requeue: bool = True) -> None: ...


OnDelivery = Callable[[Delivery], None]
OnCancel = Callable[[], None]


class Consumer(Protocol):
    async def cancel(self) -> None:
        """Stop consuming; messages delivered but not acked go back to the queue."""


class Broker(Protocol):
    # True when `publish` waits on the network (a broker's confirm): a caller that must not
    # stall behind it publishes from a task of its own.
    publish_waits: bool
    kind: str  # "memory" or "amqp", for /info and logs: no caller branches on it
    # Who the hub's own publishes are from: RabbitMQ's login (its `user_id` check makes a message
    # that says so the hub's), or the embedded broker's, where only the hub publishes.
    login: str
    # Called when the node's own queues may have lost messages on their way (the hub moved to
    # another RabbitMQ node of a cluster): its clients must recover what they missed.
    on_moved: list[Callable[[], None]]

    async def start(self) -> None:
        """Connect (BrokerUnavailable if it cannot); the embedded broker has nothing to do."""
        ...

    @property
    def is_up(self) -> bool:
        """Usable now: connected, with everything declared before a loss restored."""
        ...

    def status(self) -> dict[str, Any]:
        """What /health shows of the broker besides up or down."""
        ...

    async def declare_exchange(
        self, name: str, type: ExchangeType, *, durable: bool = True, auto_delete: bool = False
    ) -> None: ...

    async def exchange_type(self, name: str) -> ExchangeType:
        """The type of an existing exchange; `NotFound` if there is none."""
        ...

    async def delete_exchange(self, name: str) -> None: ...

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
        """Create the queue unless it exists; returns its name (a fresh one for "").

        `expires`: seconds unused after which the broker deletes the queue (x-expires).
        `single_active_consumer`: one consumer at a time gets everything, in order; the others
        wait to take over (x-single-active-consumer).
        `node_local`: a queue only one hub node reads (its fan-out). It is never a quorum
        queue, and is transient in a RabbitMQ cluster (it must go with its RabbitMQ node).
        """
        ...

    async def delete_queue(self, name: str) -> None: ...

    async def queue_length(self, name: str) -> int:
        """Messages waiting in the queue (NotFound when there is none): what a worker lags by."""
        ...

    async def bind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None: ...

    async def unbind_queue(
        self, queue: str, exchange: str, key: str = "", arguments: Arguments | None = None
    ) -> None: ...

    async def bind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None: ...

    async def unbind_exchange(
        self, destination: str, source: str, key: str = "", arguments: Arguments | None = None
    ) -> None: ...

    async def publish(self, exchange: str, key: str, message: Message) -> None:
        """Route the message; returns once the broker has taken it (confirmed)."""
        ...

    async def consume(
        self,
        queue: str,
        on_delivery: OnDelivery,
        *,
        prefetch: int = 0,
        no_ack: bool = False,
        on_cancel: OnCancel | None = None,
    ) -> Consumer:
        """Deliver what `queue` holds; `on_cancel` is called if the broker itself ends the
        consumer (its queue was deleted)."""
        ...

    async def close(self) -> None: ...
