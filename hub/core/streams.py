"""A user's own stream, `/exchange/<user>.subscribe`, served through node-level queues.

RabbitMQ routes a conversation message to every member's `<user>.subscribe`; a node
that consumed those would take one copy per member. Instead a node serves the
streams of all its online users from two queues, whatever their number:

    conversations tap (fan-out)   key "<cid>.*" for each conversation of an online user:
                                  all conversation traffic, one copy per message per node
    activity tap (fan-out)        key "<context hash>" for each context of an online user
                                  whose notifications are on: posts and comments, live
    hutch.node.<node>.streams     bound to "<user>.publish" with key "internal" and to
                                  `hutch.direct` with key "<user>" for each online user: what a
                                  user's devices send each other, and admin sends; and to
                                  `hutch.direct` "hutch.everyone": broadcasts, for every stream;
                                  and to `hutch.receipts`: every node's delivery receipts, each
                                  sender's share handed to their streams open here

Membership changes (of conversations and of contexts) reach every node on the `hutch.control` fanout exchange (and the
node that made them at once), so a removed member stops receiving, an added one starts.
No client can reach that exchange, and a node takes an event only as a hint: it applies
what the store says of the membership, never what the event claims.

Subscriptions straight to `/exchange/conversations/<cid>.<kind>` are kept here too, so
that they end with the membership on every node.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.core.fanout import NODE_QUEUE_EXPIRY, NodeFanout
from hutch.hub.core.receipts import DeliveryReceipts, batch_of, receipt_for
from hutch.hub.core.subscriptions import LocalSubscription
from hutch.hub.messages.encoding import LocalCopy
from hutch.protocol import names

if TYPE_CHECKING:
    from hutch.hub.contexts.store import ContextStore
    from hutch.hub.conversations.store import ConversationStore

log = logging.getLogger(__name__)

CONTROL = "hutch.control"


def stream_owner(exchange: str) -> str | None:
    """The user whose stream `<user>.subscribe` is, else None."""
    owner = names.user_exchange_owner(exchange)
    return owner[0] if owner and owner[1] == "subscribe" else None


class UserStreams:
    def __init__(
        self,
        broker: Broker,
        fanout: NodeFanout,
        store: ConversationStore,
        node_id: str,
        *,
        contexts: ContextStore | None = None,
        on_change: Callable[[str, str], None] = lambda cid, user: None,
        on_listed: Callable[[str, list[str]], None] = lambda user, cids: None,
        receipts: DeliveryReceipts | None = None,
    ):
        """`on_change(cid, user)` is told of every membership change applied here (caches to drop),
        `on_listed(user, cids)` of the conversations the store listed for a user whose stream opens
        (caches to fill)."""
        self.broker = broker
        self.fanout = fanout
        self.store = store
        self.queue = f"{names.HUB_PREFIX}node.{node_id}.streams"
        self.on_change = on_change
        self.on_listed = on_listed
        self.contexts = contexts  # None: no activity streams on this node
        self.receipts = receipts  # told of each chat message a member's device has
        self._open: defaultdict[str, set[LocalSubscription]] = defaultdict(set)  # user -> subscriptions
        self._owner: dict[LocalSubscription, str] = {}
        # (user, cid) -> subscriptions straight to conversations, with their binding keys
        self._direct: defaultdict[tuple[str, str], dict[LocalSubscription, str]] = defaultdict(dict)
        self._direct_of: dict[LocalSubscription, tuple[str, str]] = {}

    async def start(self) -> None:
        await self.broker.declare_exchange(CONTROL, "fanout")
        await self.fanout.attach(CONTROL, "", _ControlTarget(self))
        await self.broker.declare_queue(self.queue, durable=True, expires=NODE_QUEUE_EXPIRY, node_local=True)
        await self.broker.bind_queue(self.queue, names.DIRECT, names.EVERYONE_KEY)
        await self.broker.declare_exchange(names.RECEIPTS, "fanout")
        await self.broker.bind_queue(self.queue, names.RECEIPTS, "")
        await self.broker.consume(self.queue, self._on_internal, no_ack=True)

    def _on_internal(self, delivery: Delivery) -> None:
        """A user's own devices talking to each other (`<user>.publish`, key internal), an
        admin's send to one user, a broadcast to all (`hutch.direct`), or a node's delivery receipts."""
        if delivery.exchange == names.RECEIPTS:
            self._hand_receipts(delivery.message)
            return
        shared = LocalCopy.of(delivery)
        if delivery.exchange != names.DIRECT:
            streams = self._open.get(names.sender_of(delivery.exchange), ())
        elif delivery.routing_key == names.EVERYONE_KEY:
            streams = [subscription for user in self._open.values() for subscription in user]
        else:
            streams = self._open.get(names.user_of_broker_name(delivery.routing_key), ())
        for subscription in list(streams):
            subscription.deliver(shared)

    def _hand_receipts(self, batch: Message) -> None:
        """Each sender with a stream open here gets their share of a node's batch."""
        for sender, delivered in batch_of(batch, self.broker.login).items():
            streams = self._open.get(sender)
            if streams and (receipt := receipt_for(sender, delivered)) is not None:
                for subscription in list(streams):
                    subscription.deliver(receipt)

    async def open(self, subscription: LocalSubscription, user: str) -> None:
        """Serve `subscription` with the user's stream; returns once every binding is in place."""
        if user not in self._open:
            await self.broker.bind_queue(self.queue, names.publish_exchange(user), names.INTERNAL_KEY)
            await self.broker.bind_queue(self.queue, names.DIRECT, names.broker_name(user))
        self._open[user].add(subscription)
        self._owner[subscription] = user
        self._tell_receipts(subscription, user)
        subscription.on_cancel(lambda: self.forget(subscription))
        conversations = await self.store.conversations_of(user)
        self.on_listed(user, conversations)
        for cid in conversations:
            await subscription.attach(self.fanout, names.CONVERSATIONS, names.conversation_key(cid))
        for hash in await self._live_contexts(user):
            await subscription.attach(self.fanout, names.ACTIVITY, hash)

    def _tell_receipts(self, subscription: LocalSubscription, user: str) -> None:
        if self.receipts is not None:
            device, receipts = subscription.sink.id, self.receipts  # a session is a device
            subscription.on_taken = lambda copy: receipts.taken(copy, user, device)

    async def _live_contexts(self, user: str) -> list[str]:
        """The contexts whose news reach `user` live: subscribed with `realtime` on and the
        `read` held, and the context's notifications on."""
        if self.contexts is None:
            return []
        subscriptions = await self.contexts.subscriptions_of(user)
        contexts = await self.contexts.many([subscription.hash for subscription in subscriptions])
        return [s.hash for s in subscriptions if s.hash in contexts and s.live(contexts[s.hash])]

    async def context_changed(self, hash: str, user: str) -> None:
        """Start or stop a context's activity on the user's streams open on this node, as the
        store says the subscription and the context's notifications now are."""
        live = hash in await self._live_contexts(user)
        for subscription in list(self._open.get(user, ())):
            if subscription.cancelled:
                continue
            if live and not subscription.attached_to(names.ACTIVITY, hash):
                await subscription.attach(self.fanout, names.ACTIVITY, hash)
            elif not live:
                await subscription.detach(names.ACTIVITY, hash)

    async def announce_context(self, hash: str, user: str) -> None:
        """Apply a change of a user's context subscription here at once, and tell the other nodes."""
        await self.context_changed(hash, user)
        event = {"event": "context-changed", "hash": hash, "user": user}
        await self.broker.publish(
            CONTROL, "", Message(json.dumps(event).encode(), {"content-type": "application/json"})
        )

    async def open_conversation(self, subscription: LocalSubscription, user: str, key: str) -> None:
        """Serve `/exchange/conversations/<key>` for a member, until they leave the conversation."""
        member = (user, names.conversation_of(key))
        self._direct[member][subscription] = key
        self._direct_of[subscription] = member
        self._tell_receipts(subscription, user)
        subscription.on_cancel(lambda: self.forget(subscription))
        await subscription.attach(self.fanout, names.CONVERSATIONS, key)

    async def forget(self, subscription: LocalSubscription) -> None:
        """The subscription is being cancelled: nothing more for it (see `open`)."""
        if (member := self._direct_of.pop(subscription, None)) is not None:
            self._direct[member].pop(subscription, None)
            if not self._direct[member]:
                del self._direct[member]
        user = self._owner.pop(subscription, None)
        if user is None:
            return
        self._open[user].discard(subscription)
        if not self._open[user]:
            del self._open[user]
            await self.broker.unbind_queue(self.queue, names.publish_exchange(user), names.INTERNAL_KEY)
            await self.broker.unbind_queue(self.queue, names.DIRECT, names.broker_name(user))

    async def member_changed(self, cid: str, user: str) -> None:
        """Start or stop the conversation on the user's subscriptions open on this node, as the
        store says the membership now is."""
        conversation = await self.store.conversation(cid)
        added = conversation is not None and user in conversation.members
        self.on_change(cid, user)
        if not added:
            for subscription, binding in list(self._direct.pop((user, cid), {}).items()):
                self._direct_of.pop(subscription, None)
                await subscription.detach(names.CONVERSATIONS, binding)
        key = names.conversation_key(cid)
        for subscription in list(self._open.get(user, ())):
            if subscription.cancelled:
                continue
            if added and not subscription.attached_to(names.CONVERSATIONS, key):
                await subscription.attach(self.fanout, names.CONVERSATIONS, key)
            elif not added:
                await subscription.detach(names.CONVERSATIONS, key)

    async def announce(self, cid: str, user: str, added: bool) -> None:
        """Apply a membership change (already in the store) here at once, and tell the other nodes."""
        await self.member_changed(cid, user)
        event = {"event": "member-added" if added else "member-removed", "cid": cid, "user": user}
        await self.broker.publish(
            CONTROL, "", Message(json.dumps(event).encode(), {"content-type": "application/json"})
        )


class _ControlTarget:
    """Membership events from every node (this one's included: applying one twice is harmless)."""

    def __init__(self, streams: UserStreams):
        self.streams = streams
        self._tasks: set[asyncio.Task[None]] = set()

    def deliver(self, message: LocalCopy) -> None:
        try:
            event = json.loads(message.body)
            of_context = event.get("event") == "context-changed"
            where, user = event["hash" if of_context else "cid"], event["user"]
            if not (isinstance(where, str) and isinstance(user, str)):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed control message: %r", message.body[:200])
            return
        task = asyncio.get_running_loop().create_task(self._apply(where, user, of_context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, where: str, user: str, of_context: bool) -> None:
        try:
            if of_context:
                await self.streams.context_changed(where, user)
            else:
                await self.streams.member_changed(where, user)
        except Exception as error:  # the store or the broker away: the next event corrects it
            log.warning("membership of %s in %s not applied: %s", user, where, error)
