"""A user's own stream, `/exchange/<user>.subscribe`, served through node-level queues.

RabbitMQ routes a conversation message to every member's `<user>.subscribe`; a node
that consumed those would take one copy per member. Instead a node serves the
streams of all its online users from two queues, whatever their number:

    conversations tap (fan-out)   key "<cid>.*" for each conversation of an online user:
                                  all conversation traffic, one copy per message per node
    hutch.node.<node>.streams     bound to "<user>.publish" with key "internal" for each
                                  online user: what a user's devices send each other

Membership changes reach every node on the `hutch.control` fanout exchange (and the
node that made them at once), so a removed member stops receiving, an added one starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from hutch.hub.broker import topology
from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.fanout import NODE_QUEUE_EXPIRY, NodeFanout
from hutch.hub.forms import Delivered
from hutch.hub.subscriptions import LocalSubscription

if TYPE_CHECKING:
    from hutch.hub.store.base import Store

log = logging.getLogger(__name__)

CONTROL = "hutch.control"


def is_user_stream(exchange: str) -> bool:
    return exchange.endswith(".subscribe") and exchange not in (topology.CONVERSATIONS, topology.ACTIVITY)


def stream_owner(exchange: str) -> str:
    return exchange.removesuffix(".subscribe")


class UserStreams:
    def __init__(self, broker: Broker, fanout: NodeFanout, store: Store, node_id: str):
        self.broker = broker
        self.fanout = fanout
        self.store = store
        self.queue = f"hutch.node.{node_id}.streams"
        self._open: defaultdict[str, set[LocalSubscription]] = defaultdict(set)  # user -> subscriptions
        self._owner: dict[LocalSubscription, str] = {}

    async def start(self) -> None:
        await self.broker.declare_exchange(CONTROL, "fanout")
        await self.fanout.attach(CONTROL, "", _ControlTarget(self))
        await self.broker.declare_queue(self.queue, durable=True, expires=NODE_QUEUE_EXPIRY)
        await self.broker.consume(self.queue, self._on_internal, no_ack=True)

    def _on_internal(self, delivery: Delivery) -> None:
        """A user's own devices talking to each other (`<user>.publish`, key internal)."""
        user = delivery.exchange.removesuffix(".publish")
        shared = Delivered.of(delivery)
        for subscription in list(self._open.get(user, ())):
            subscription.deliver(shared)

    async def open(self, subscription: LocalSubscription, user: str) -> None:
        """Serve `subscription` with the user's stream; returns once every binding is in place."""
        if user not in self._open:
            await self.broker.bind_queue(self.queue, topology.publish_exchange(user), topology.INTERNAL_KEY)
        self._open[user].add(subscription)
        self._owner[subscription] = user
        for cid in await self.store.conversations_of(user):
            await subscription.attach(self.fanout, topology.CONVERSATIONS, topology.conversation_key(cid))

    async def forget(self, subscription: LocalSubscription) -> None:
        """The subscription is being cancelled: nothing more for it."""
        user = self._owner.pop(subscription, None)
        if user is None:
            return
        self._open[user].discard(subscription)
        if not self._open[user]:
            del self._open[user]
            await self.broker.unbind_queue(self.queue, topology.publish_exchange(user), topology.INTERNAL_KEY)

    async def member_changed(self, cid: str, user: str, added: bool) -> None:
        """Start or stop the conversation on the user's streams open on this node."""
        key = topology.conversation_key(cid)
        for subscription in list(self._open.get(user, ())):
            if subscription.cancelled:
                continue
            if added and not subscription.attached_to(topology.CONVERSATIONS, key):
                await subscription.attach(self.fanout, topology.CONVERSATIONS, key)
            elif not added:
                await subscription.detach(topology.CONVERSATIONS, key)

    async def announce(self, cid: str, user: str, added: bool) -> None:
        """Apply a membership change here at once, and tell the other nodes."""
        await self.member_changed(cid, user, added)
        event = {"event": "member-added" if added else "member-removed", "cid": cid, "user": user}
        await self.broker.publish(
            CONTROL, "", Message(json.dumps(event).encode(), {"content-type": "application/json"})
        )


class _ControlTarget:
    """Membership events from every node (this one's included: applying one twice is harmless)."""

    def __init__(self, streams: UserStreams):
        self.streams = streams
        self._tasks: set[asyncio.Task[None]] = set()

    def deliver(self, message: Delivered) -> None:
        try:
            event = json.loads(message.body)
            cid, user, added = event["cid"], event["user"], event["event"] == "member-added"
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed control message: %r", message.body[:200])
            return
        task = asyncio.get_running_loop().create_task(self.streams.member_changed(cid, user, added))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
