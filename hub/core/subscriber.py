"""What a session does to SUBSCRIBE and UNSUBSCRIBE: each kind of destination opened, the queues
it needs made, claimed against the quota and released.

    /exchange, /topic           a `LocalSubscription` on the node's fan-out (a user's stream and
                                conversations through `UserStreams`); with `x-since`, a replay first
    ... with durable:true       a queue of its own, named by user and id (`durable_queue_name`)
    /queue/<q>                  the shared queue q, declared once per session
    /amq/queue/<q>              an existing queue, never declared
    reply-to: /temp-queue/<n>   a private queue for replies, made at the first SEND naming it

The protocol keeps each subscription by id; this attaches what serves it there
(`ServerConnection.attach`), so there is one table, not two.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from hutch.hub.broker.errors import BrokerError
from hutch.hub.core import permissions
from hutch.hub.core.recovery import Replays, check_since
from hutch.hub.core.streams import stream_owner
from hutch.hub.core.subscriptions import LocalSubscription, QueueSubscription
from hutch.protocol import StompError, Subscribed, Unsubscribed, Wording, names, whole_number
from hutch.protocol.connection import is_durable
from hutch.protocol.destinations import Destination, Kind, parse_destination

if TYPE_CHECKING:
    from hutch.hub.core.session import Session
    from hutch.hub.node import HubNode

log = logging.getLogger(__name__)

MAX_PREFETCH = 65535  # AMQP's basic.qos prefetch-count is a short
DURABLE_QUEUE_PREFIX = f"{names.HUB_PREFIX}durable."

Subscription = LocalSubscription | QueueSubscription


class Subscriber:
    def __init__(self, node: HubNode, session: Session):
        self.node = node
        self.session = session
        self.replays = Replays(node.stores.conversations, session)
        self._reply_queues: dict[str, str] = {}  # temp-queue name -> its private queue
        self._declared_queues: set[str] = set()

    @property
    def user(self) -> str:
        return self.session.user

    async def subscribe(self, event: Subscribed) -> None:
        """Subscribe, then answer the RECEIPT: before any message of a queue (what waited for a
        durable subscription included), after the missed ones of a replay."""
        destination = parse_destination(event.destination)
        durable = is_durable(event.headers) and event.headers.get("auto-delete") != "true"
        await self.authorize(destination, subscribe=True, durable=durable)
        since = event.headers.get("x-since")
        if since is not None:
            check_since(destination, since, self.user)
        prefetch = _count(event.headers, "prefetch-count", MAX_PREFETCH)
        broker = self.node.broker
        match destination.kind:
            case Kind.TEMP_QUEUE | Kind.REPLY_QUEUE:
                raise StompError(
                    Wording.INVALID_DESTINATION,
                    f"'{event.destination}' is not a valid destination for 'SUBSCRIBE' (only a reply-to)",
                )
            case Kind.EXCHANGE | Kind.TOPIC if not durable:
                local = LocalSubscription(
                    self.session, event.id, event.ack, prefetch, self.node.settings.max_pending_acks
                )
                local.on_cancel(lambda: self.replays.stop(local))
                self.session.conn.attach(event.id, local)
                if since is not None:
                    local.hold()  # live messages wait until the missed ones are replayed
                await self._open_local(local, destination)
                if since is not None:
                    await self.replays.start(local, self.user, since, event.receipt)
                else:
                    self.session.conn.send_receipt(event.receipt)
                return
            case Kind.EXCHANGE | Kind.TOPIC:  # durable: a queue of its own, named by user and id
                queue = durable_queue_name(self.user, event.id)
                self.node.queues.claim(self.user, queue)
                await broker.declare_queue(queue, durable=True)
                await broker.bind_queue(queue, destination.exchange, destination.key)
            case Kind.QUEUE:
                queue = await self.declare_shared(destination)
            case Kind.AMQ_QUEUE:
                queue = await broker.declare_queue(destination.name, passive=True)
        subscription = QueueSubscription(self.session, event.id, event.ack, queue, self.node.fanout.read)
        await subscription.start(broker, prefetch)
        self.session.conn.attach(event.id, subscription)
        self.session.conn.send_receipt(event.receipt)
        subscription.release()

    async def _open_local(self, local: LocalSubscription, destination: Destination) -> None:
        streams = self.node.streams
        owner = stream_owner(destination.exchange) if destination.kind is Kind.EXCHANGE else None
        if owner is not None and not destination.key:
            await streams.open(local, owner)
        elif destination.exchange == names.CONVERSATIONS:  # ends when the user leaves it
            await streams.open_conversation(local, self.user, destination.key)
        else:
            await local.attach(self.node.fanout, destination.exchange, destination.key)

    async def unsubscribe(self, event: Unsubscribed) -> None:
        subscription: Subscription | None = event.handle
        if subscription is None:
            return
        await subscription.cancel()
        # "UNSUBSCRIBE with durable:true" (or RabbitMQ's older persistent:true) ends a durable
        # subscription: its queue goes.
        ends_durable = is_durable(event.headers) and isinstance(subscription, QueueSubscription)
        if ends_durable and subscription.queue.startswith(DURABLE_QUEUE_PREFIX):
            await self.node.broker.delete_queue(subscription.queue)
            self.node.queues.release(subscription.queue)

    async def authorize(self, destination: Destination, *, subscribe: bool, durable: bool = False) -> None:
        identity = self.session.identity
        assert identity is not None
        await permissions.check(
            identity,
            destination,
            subscribe=subscribe,
            conversations=self.node.conversations,
            grants=self.node.grants,
            durable=durable,
        )

    async def declare_shared(self, destination: Destination) -> str:
        if destination.name not in self._declared_queues:
            self.node.queues.claim(self.user, destination.name)
            await self.node.broker.declare_queue(destination.name, durable=True)
            self._declared_queues.add(destination.name)
        return destination.name

    async def reply_queue(self, name: str) -> str:
        """The private queue for replies to /temp-queue/<name>, made at the first reply-to naming it."""
        queue = self._reply_queues.get(name)
        if queue is None:
            queue = await self.node.broker.declare_queue("", exclusive=True, auto_delete=True)
            sub_id = f"/temp-queue/{name}"
            self.session.conn.add_subscription(sub_id)
            subscription = QueueSubscription(self.session, sub_id, "auto", queue)
            await subscription.start(self.node.broker, prefetch=0)
            self.session.conn.attach(sub_id, subscription)
            subscription.release()
            self._reply_queues[name] = queue
        return f"/reply-queue/{queue}"

    async def cancel_all(self) -> None:
        """Every subscription stops (DISCONNECT, a lost connection)."""
        for subscription in self.session.conn.handles():
            await self._quietly(subscription.cancel())

    async def close(self) -> None:
        """The connection is gone: subscriptions end and reply queues go."""
        await self.cancel_all()
        for queue in self._reply_queues.values():
            await self._quietly(self.node.broker.delete_queue(queue))

    async def _quietly(self, operation: Awaitable[Any]) -> None:
        try:
            await operation
        except BrokerError as error:
            log.info("session %s: cleanup failed: %s", self.session.id, error)


def durable_queue_name(user: str, sub_id: str) -> str:
    """The queue of a durable subscription: the hub's (no client can name it), one per
    (user, id), with the id hashed so that no two pairs share a name and it stays short."""
    digest = hashlib.sha256(sub_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{DURABLE_QUEUE_PREFIX}{names.broker_name(user)}.{digest}"


def _count(headers: dict[str, str], name: str, most: int) -> int:
    raw = headers.get(name, "0")
    number = whole_number(raw, most)
    if number is None:
        raise StompError(f"bad {name}", f"{name} must be a whole number from 0 to {most}, not '{raw[:50]}'")
    return number
