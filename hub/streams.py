"""A user's own stream, `/exchange/<user>.subscribe`, served through node-level queues.

RabbitMQ routes a conversation message to every member's `<user>.subscribe`; a node
that consumed those would take one copy per member. Instead a node serves the
stream of each of its online users from two taps of its fan-out:

    conversations, key "<cid>.*"     for each conversation of the user: one node queue for
                                     all conversation traffic, one copy per message
    <user>.publish, key "internal"   what the user's devices send each other

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
from hutch.hub.broker.base import Broker, Message
from hutch.hub.fanout import NodeFanout
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
    def __init__(self, broker: Broker, fanout: NodeFanout, store: Store):
        self.broker = broker
        self.fanout = fanout
        self.store = store
        self._open: defaultdict[str, set[LocalSubscription]] = defaultdict(set)  # user -> subscriptions
        self._owner: dict[LocalSubscription, str] = {}

    async def start(self) -> None:
        await self.broker.declare_exchange(CONTROL, "fanout")
        await self.fanout.attach(CONTROL, "", _ControlTarget(self))

    async def open(self, subscription: LocalSubscription, user: str) -> None:
        """Serve `subscription` with the user's stream; returns once every tap is bound."""
        self._open[user].add(subscription)
        self._owner[subscription] = user
        await subscription.attach(self.fanout, topology.publish_exchange(user), topology.INTERNAL_KEY)
        for cid in await self.store.conversations_of(user):
            await subscription.attach(self.fanout, topology.CONVERSATIONS, topology.conversation_key(cid))

    def forget(self, subscription: LocalSubscription) -> None:
        """The subscription was cancelled: no more membership updates for it."""
        user = self._owner.pop(subscription, None)
        if user is not None:
            self._open[user].discard(subscription)
            if not self._open[user]:
                del self._open[user]

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
