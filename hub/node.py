"""A hub node: the broker, the fan-out, the verifiers and the sessions, wired together."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hutch.hub import VERSION
from hutch.hub.activity.memory import MemoryActivities
from hutch.hub.activity.redis import RedisActivities
from hutch.hub.activity.rules import Activities
from hutch.hub.activity.store import ActivityStore
from hutch.hub.auth import Authenticator, FirstOf, Identity, authenticator_for
from hutch.hub.broker import topology
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.base import Broker, Message
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.contexts.memory import MemoryContexts
from hutch.hub.contexts.redis import RedisContexts
from hutch.hub.contexts.rules import Contexts
from hutch.hub.contexts.store import ContextStore
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.redis import RedisConversationStore
from hutch.hub.conversations.service import Conversations, envelope
from hutch.hub.conversations.store import ConversationStore
from hutch.hub.conversations.stored import as_delivered
from hutch.hub.conversations.worker import Worker
from hutch.hub.core.fanout import NodeFanout
from hutch.hub.core.permissions import Grants
from hutch.hub.core.quota import QueueQuota
from hutch.hub.core.ratelimit import CallerLimits, UserFlows
from hutch.hub.core.receipts import DeliveryReceipts
from hutch.hub.core.registry import Registry
from hutch.hub.core.session import Session
from hutch.hub.core.streams import UserStreams
from hutch.hub.direct.memory import MemoryDirect
from hutch.hub.direct.redis import RedisDirect
from hutch.hub.direct.requests import SendRequests
from hutch.hub.direct.service import Direct
from hutch.hub.direct.store import DirectStore
from hutch.hub.media.directory import DirectoryMedia
from hutch.hub.media.store import MediaStore
from hutch.hub.notifications.memory import MemoryFeeds
from hutch.hub.notifications.model import Notification
from hutch.hub.notifications.redis import RedisFeeds
from hutch.hub.notifications.service import Feeds
from hutch.hub.notifications.store import FeedStore
from hutch.hub.people.memory import MemoryPeople
from hutch.hub.people.redis import RedisPeople
from hutch.hub.people.store import PeopleStore
from hutch.hub.presence.keeper import Refreshes
from hutch.hub.presence.memory import MemoryPresence
from hutch.hub.presence.redis import RedisPresence
from hutch.hub.presence.store import PresenceStore
from hutch.hub.push import PushBridge, providers_for
from hutch.hub.push.memory import MemoryDevices
from hutch.hub.push.redis import RedisDevices
from hutch.hub.push.store import DeviceStore
from hutch.hub.settings import Settings
from hutch.hub.store.redis import connect, connect_sentinel
from hutch.hub.store.watch import StoreWatch
from hutch.hub.transport.tcp import start_tcp_listener
from hutch.hub.web.metrics import NodeMetrics
from hutch.hub.websub.feeds import KINDS, ContextFeeds, topic_url
from hutch.hub.websub.follower import Follower
from hutch.hub.websub.hub import Limits as WebSubLimits
from hutch.hub.websub.hub import WebSubHub
from hutch.hub.websub.memory import MemoryWebSub
from hutch.hub.websub.model import Follow
from hutch.hub.websub.redis import RedisWebSub
from hutch.hub.websub.store import WebSubStore
from hutch.protocol import StompError, names

log = logging.getLogger(__name__)

BROKER_MOVED = "this node moved to another RabbitMQ node; messages on their way may be missing: reconnect and recover them with x-since"


class HubNode:
    def __init__(self, settings: Settings, broker: Broker | None = None, *, serves_clients: bool = True):
        self.settings = settings
        self.limits = settings.limits()
        self.server_name = f"hutch/{VERSION}"
        self.broker: Broker = broker or _broker_for(settings)
        # Whatever this node's own setting, a message another node stored on send is acked here.
        read_stored = functools.partial(as_delivered, login=self.broker.login)
        self.fanout = NodeFanout(self.broker, settings.node_id, {names.CONVERSATIONS: read_stored})
        self.registry = Registry()
        # A worker or push bridge alone takes no logins: no verifiers, and no warning of none.
        self.authenticator: Authenticator = authenticator_for(settings) if serves_clients else FirstOf()
        self.stores = stores_for(settings)
        self.store_watch = StoreWatch(self.stores.ping)
        self.presence_refreshes = Refreshes(self.stores.presence, settings.presence_ttl)
        self.metrics = NodeMetrics()
        self.user_flows = UserFlows(settings.user_rate())
        self.rest_limits = CallerLimits(settings.rest_rate, settings.rest_burst)
        # Each follows the other: a membership change moves the streams, and the streams drop
        # the conversations' cached answers when another node reports one.
        self.feeds = Feeds(self.stores.feeds, settings.notification_limit, deliver=self._deliver_notification)
        self.conversations = Conversations(
            self.stores.conversations,
            self.broker,
            on_member_change=self._member_changed,
            notify=self.feeds.tell,
            store_on_send=settings.store_on_send,
            store_linger=store_linger(settings),
        )
        self.receipts = DeliveryReceipts(self._send_receipts, self.broker.login)
        self.streams = UserStreams(
            self.broker,
            self.fanout,
            self.stores.conversations,
            settings.node_id,
            contexts=self.stores.contexts,
            on_change=self.conversations.forget_member,
            on_listed=self.conversations.remember_member,
            receipts=self.receipts,
        )
        self.contexts = Contexts(self.stores.contexts, on_change=self.streams.announce_context)
        self.direct = Direct(
            self.stores.direct, self.conversations, self.feeds, lease=settings.schedule_lease
        )
        self.send_requests = SendRequests(self.broker, self.direct, settings.sender_logins)
        self.media: MediaStore = DirectoryMedia(settings.media_dir)
        self.activities = Activities(
            self.stores.activities,
            self.contexts,
            publish=self.conversations.publish_to,
            media=self.media,
            notify=self.feeds.tell,
            on_public_post=self._publish_context,
        )
        self.context_feeds = ContextFeeds(self.stores.contexts, self.stores.activities, settings.base_url)
        limits = WebSubLimits(
            default_lease=settings.websub_default_lease,
            max_lease=settings.websub_max_lease,
            allow_private=settings.websub_allow_private,
            signature=settings.websub_signature,
        )
        hub_url = f"{settings.base_url}/websub"
        self.websub = WebSubHub(
            self.stores.websub, self.broker, hub_url, limits, self.context_feeds.for_topic
        )
        self.follower = Follower(
            self.stores.websub, self.websub.http, f"{hub_url}/callback", self._post_entry
        )
        self._sweeper: asyncio.Task[None] | None = None
        self.grants = Grants.from_file(settings.permissions_file) if settings.permissions_file else Grants()
        self.queues = QueueQuota(settings.max_queues_per_user, settings.max_queues)
        run_worker = settings.worker if settings.worker is not None else not settings.amqp_url
        self.worker = (
            Worker(self.broker, self.stores.conversations, notify=self.feeds.tell) if run_worker else None
        )
        run_push = settings.push_bridge if settings.push_bridge is not None else not settings.amqp_url
        self.push_bridge = push_bridge_for(settings, self.broker, self.stores) if run_push else None
        self.tcp_port: int | None = None  # the plain STOMP listener's port, once listening
        self._tcp: asyncio.Server | None = None
        self._known_users: set[str] = set()

    @property
    def broker_kind(self) -> str:
        return self.broker.kind

    @property
    def broker_up(self) -> bool:
        return self.broker.is_up

    async def start(self) -> None:
        await self.broker.start()
        self.broker.on_moved.append(self._broker_moved)
        await topology.declare_base(self.broker)
        await self.streams.start()
        if self.worker is not None:
            await self.worker.start()
        if self.push_bridge is not None:
            await self.push_bridge.start()
        if self.worker is not None:  # scheduled sends, held pushes and bots' sends: workers'
            self.direct.start()
            await self.send_requests.start()
        await self.websub.start()
        self._sweeper = asyncio.create_task(self._sweep_leases())
        self.registry.start()
        if self.settings.tcp_port is not None:
            self._tcp = await start_tcp_listener(self, self.settings.host, self.settings.tcp_port)
            self.tcp_port = self._tcp.sockets[0].getsockname()[1]
            log.info("plain STOMP listening on %s:%d", self.settings.host, self.tcp_port)
        log.info("hutch node %s started on the %s broker", self.settings.node_id, self.broker_kind)

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        await self.registry.drain("the hub is shutting down", self.settings.close_timeout)
        await self.registry.stop()
        self.receipts.stop()
        if self.worker is not None:
            await self.worker.stop()
        if self.push_bridge is not None:
            await self.push_bridge.stop()
        await self.send_requests.stop()
        await self.direct.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.websub.stop()
        await self.broker.close()
        await self.stores.close()

    def _broker_moved(self) -> None:
        # This node's queues were declared again on another RabbitMQ node: what was on its way
        # to the old ones is gone. Its clients reconnect and recover it with x-since.
        log.warning(
            "moved to another RabbitMQ node: ending %d sessions to recover", len(self.registry.sessions)
        )
        for session in list(self.registry.sessions):
            session.fail(StompError("broker moved", BROKER_MOVED))

    async def _sweep_leases(self, every: float = 60.0) -> None:
        """Ended WebSub leases go, on every node (dropping one twice is harmless), and followed
        feeds without a hub are polled every `follow_poll_interval` seconds."""
        polled = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                await self.websub.sweep()
                if time.monotonic() - polled >= self.settings.follow_poll_interval:
                    polled = time.monotonic()
                    await self.follower.poll()
            except Exception as error:
                log.warning("the WebSub housekeeping failed: %s", error)

    async def _post_entry(self, follow: Follow, content: str) -> None:
        """An entry of a followed feed, posted in its context by who asked for the feed."""
        try:
            await self.activities.post(Identity(follow.by), content, follow.context, generator=follow.url)
        except Exception as error:  # the context went, or its writer lost the right
            log.info("an entry of %s was not posted: %s", follow.url, error)

    async def _publish_context(self, hash: str) -> None:
        """A public context's new post: its feeds' subscribers get them now."""
        for kind in KINDS:
            self.websub.publish_soon(topic_url(self.settings.base_url, hash, kind))

    async def ensure_user(self, user: str) -> None:
        """The user's own exchanges exist once they have connected (MAX topology)."""
        if user not in self._known_users:
            await topology.declare_user(self.broker, user)
            await self.stores.direct.remember(user)  # a broadcast reaches them from now on
            self._known_users.add(user)

    async def _deliver_notification(self, user: str, notification: Notification, unseen: int) -> None:
        """A new notification and the unseen count reach the user's devices live (their stream,
        through each node's fan-out), and the push bridges hear of it."""
        data = notification.to_json(unseen=True) | {"unseenCount": unseen}
        message = envelope(notification.properties.get("by", user), "add", "notification", data, user)
        await self.ensure_user(user)
        await self.conversations.publish_to(names.publish_exchange(user), names.INTERNAL_KEY, message)
        await self.conversations.publish_to(names.NOTIFICATIONS, user, message)

    async def _send_receipts(self, batch: Message) -> None:
        """This node's delivery receipts, to every node: each hands them to the senders' devices."""
        await self.broker.publish(names.RECEIPTS, "", batch)

    async def _member_changed(self, cid: str, user: str, added: bool) -> None:
        await self.streams.announce(cid, user, added)

    def open_session(
        self, peer: str, on_ready: Callable[[], None] = lambda: None, abort: Callable[[], None] = lambda: None
    ) -> Session:
        """A session for a new connection: `on_ready` when frames wait, `abort` to drop it now."""
        session = Session(self, peer, on_ready=on_ready, abort=abort)
        self.registry.add(session)
        return session


@dataclass(slots=True)
class Stores:
    """What a node keeps, per capability: in process memory, or all on one Redis."""

    conversations: ConversationStore
    presence: PresenceStore
    devices: DeviceStore
    people: PeopleStore
    contexts: ContextStore
    activities: ActivityStore
    feeds: FeedStore
    websub: WebSubStore
    direct: DirectStore
    ping: Callable[[], Awaitable[object]]  # raises when the store does not answer
    close: Callable[[], Awaitable[None]]


def stores_for(settings: Settings) -> Stores:
    if settings.uses_redis:
        if settings.redis_sentinels:
            service = settings.redis_sentinel_service
            redis = connect_sentinel(settings.sentinel_addresses, service, settings.redis_url)
        else:
            redis = connect(settings.redis_url or "")
        wait = (settings.redis_wait_replicas, settings.redis_wait_timeout)
        conversations = RedisConversationStore(redis, settings.history_limit, wait_for_replicas=wait)

        async def close() -> None:
            await conversations.close()
            await redis.aclose()

        return Stores(
            conversations=conversations,
            presence=RedisPresence(redis),
            devices=RedisDevices(redis),
            people=RedisPeople(redis),
            contexts=RedisContexts(redis),
            activities=RedisActivities(redis),
            feeds=RedisFeeds(redis),
            websub=RedisWebSub(redis),
            direct=RedisDirect(redis),
            ping=redis.ping,
            close=close,
        )
    return Stores(
        conversations=MemoryConversationStore(settings.history_limit),
        presence=MemoryPresence(),
        devices=MemoryDevices(),
        people=MemoryPeople(),
        contexts=MemoryContexts(),
        activities=MemoryActivities(),
        feeds=MemoryFeeds(),
        websub=MemoryWebSub(),
        direct=MemoryDirect(),
        ping=_nothing,
        close=_nothing,
    )


async def _nothing() -> None:
    pass


def push_bridge_for(settings: Settings, broker: Broker, stores: Stores) -> PushBridge:
    return PushBridge(
        broker,
        providers_for(settings),
        conversations=stores.conversations,
        presence=stores.presence,
        devices=stores.devices,
        contexts=stores.contexts,
        activities=stores.activities,
        feeds=stores.feeds,
        direct=stores.direct,
        text_limit=settings.push_text_limit,
        ttl=settings.push_ttl,
        timeout=settings.push_timeout,
        stored_on_send=settings.store_on_send,
    )


def store_linger(settings: Settings) -> float:
    """The linger of messages stored on send: as set, or 10 ms when RabbitMQ's round trips
    are there to share."""
    if settings.store_linger is not None:
        return settings.store_linger
    return 0.01 if settings.amqp_url else 0.0


def _broker_for(settings: Settings) -> Broker:
    if settings.amqp_url:
        return AmqpBroker(
            settings.amqp_url,
            quorum=settings.amqp_quorum,
            reconnect_interval=settings.amqp_reconnect_interval,
        )
    return MemoryBroker(max_length=settings.max_queue_length, max_bytes=settings.max_queue_bytes)
