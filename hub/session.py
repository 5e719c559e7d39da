"""One client connection: STOMP events in, broker operations and frames out.

The protocol object says what the client asked for; the session does it, in
order, one event at a time, and answers each receipt only once the work is
done (a subscription is bound, a message is taken by the broker). Any refusal
is a `StompError` (or a broker error) and becomes the ERROR frame that ends the
connection; nothing a client sends can raise past this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hutch.hub import permissions
from hutch.hub.auth import Identity
from hutch.hub.broker import topology
from hutch.hub.broker.base import Message
from hutch.hub.broker.errors import BrokerError
from hutch.hub.conversations import RULES
from hutch.hub.forms import (
    DEFAULT_FORM,
    form_from_header,
    normalize_send,
    rules_from_header,
    with_default_rules,
)
from hutch.hub.outbox import Outbox
from hutch.hub.router import Destination, Kind, parse_destination
from hutch.hub.store.base import StoredMessage, id_key
from hutch.hub.store.redis import UNAVAILABLE as STORE_UNAVAILABLE
from hutch.hub.streams import is_user_stream, stream_owner
from hutch.hub.subscriptions import LocalSubscription, QueueSubscription
from hutch.protocol import (
    Acked,
    Committed,
    ConnectRequested,
    DisconnectRequested,
    Event,
    Nacked,
    OutgoingMessage,
    ReceiptRequested,
    SendRequested,
    ServerConnection,
    State,
    StompError,
    Subscribed,
    Unsubscribed,
)
from hutch.rules import Form, content_type, encode

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

log = logging.getLogger(__name__)

# User names become exchange names ("<user>.publish"), so they keep to what AMQP allows.
USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

# Headers of a SEND frame that describe the frame, not the message.
_FRAME_ONLY = frozenset({"destination", "receipt", "transaction", "content-length"})

Subscription = LocalSubscription | QueueSubscription


class Session:
    def __init__(self, node: HubNode, peer: str = ""):
        self.node = node
        self.peer = peer
        self.id = secrets.token_hex(8)
        self.conn = ServerConnection(node.limits, now=time.monotonic(), server=node.server_name)
        self.outbox = Outbox(node.settings.outbox_max_bytes)
        self.identity: Identity | None = None
        self.form = DEFAULT_FORM  # how coded messages reach this client
        self.rules: str | None = None  # the rule set of its SENDs, when it named one
        self.closing_since: float | None = None
        self.abort: Callable[[], None] = lambda: None  # set by the endpoint: drop the transport now
        self._subscriptions: dict[str, Subscription] = {}
        self._reply_queues: dict[str, str] = {}  # temp-queue name -> its private queue
        self._declared_queues: set[str] = set()
        self._closed = False
        self._presence_due = float("inf")
        self._next_tick = 0.0  # before it, a tick has nothing to do (see tick)
        self._background: set[asyncio.Task[None]] = set()

    # -- from the transport --------------------------------------------------

    async def receive(self, data: bytes) -> None:
        self._next_tick = 0.0  # what the client sent may change any deadline: look again
        for event in self.conn.receive_data(data, time.monotonic()):
            try:
                await self._handle(event)
            except StompError as error:
                error.receipt_id = error.receipt_id or getattr(event, "receipt", None)
                self.conn.fail(error)
            except STORE_UNAVAILABLE as error:
                self.conn.fail(StompError("store unavailable", str(error), getattr(event, "receipt", None)))
            except BrokerError as error:
                self.conn.fail(StompError(error.stomp_message, str(error), getattr(event, "receipt", None)))
            except Exception:
                log.exception("session %s: unexpected failure on %s", self.id, type(event).__name__)
                self.conn.fail(StompError("internal error", "the hub failed to handle this frame"))
            self.flush()
            if self.conn.state is State.CLOSING:
                break
        self.flush()

    def tick(self, now: float) -> None:
        # The node's clock ticks every session a few times a second; most are idle, with
        # nothing due for seconds: they cost a comparison.
        if now < self._next_tick:
            return
        expires_at = self.identity.expires_at if self.identity else None
        if expires_at is not None and time.time() > expires_at and self.conn.state is State.CONNECTED:
            self.conn.fail(StompError("token expired", "the token of this connection expired; connect again"))
        self.conn.tick(now)
        self.flush()
        if self.identity is not None and now > self._presence_due and self.conn.state is State.CONNECTED:
            self._presence_due = now + self.node.settings.presence_ttl / 3
            task = asyncio.create_task(self._touch_presence())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if self.closing_since is not None and now - self.closing_since > self.node.settings.close_timeout:
            self.abort()  # the client does not take its last frames: stop waiting for it
        self._next_tick = self._next_due(now)

    def _next_due(self, now: float) -> float:
        due = self.conn.next_tick()
        if self.conn.state is State.CONNECTED:
            due = min(due, self._presence_due)
            if self.identity is not None and self.identity.expires_at is not None:
                due = min(due, now + self.identity.expires_at - time.time())
        if self.closing_since is not None:
            due = min(due, self.closing_since + self.node.settings.close_timeout)
        return due

    def fail(self, error: StompError) -> None:
        """End the session from the hub's side (shutdown, expiry): ERROR, then close."""
        self.conn.fail(error)
        self.flush()

    async def close(self) -> None:
        """The transport is gone: release subscriptions and queues (unacked messages are requeued)."""
        if self._closed:
            return
        self._closed = True
        self.node.registry.remove(self)
        if self.identity is not None:
            with contextlib.suppress(Exception):  # presence expires by itself anyway
                await self.node.store.drop_presence(self.identity.user, self.id)
        await self._cancel_subscriptions()
        for queue in self._reply_queues.values():
            await self._quietly(self.node.broker.delete_queue(queue))

    # -- to the transport ----------------------------------------------------

    def flush(self) -> None:
        """Move what the protocol produced into the outbox; start closing once it is CLOSING."""
        frames = self.conn.data_to_send(time.monotonic())
        if frames and not self._to_outbox(frames):
            return
        if self.conn.state is State.CLOSING and not self.outbox.closing:
            self._start_closing()
            self.outbox.close()

    def send_message(
        self, message: OutgoingMessage, subscription: str, token: Any = None, *, redelivered: bool = False
    ) -> None:
        if self._closed:
            return
        # Once per recipient of a fan-out: the frame straight to the outbox, not through lists.
        frame = self.conn.message_to_send(
            message, subscription, time.monotonic(), token, redelivered=redelivered
        )
        if frame is not None and not self.outbox.put_one(frame):
            self._outbox_full()

    def _to_outbox(self, frames: list[bytes]) -> bool:
        """Queue frames for the client; False when that made it a slow consumer (cut off)."""
        if self.outbox.put(frames):
            return True
        self._outbox_full()
        return False

    def _outbox_full(self) -> None:
        self.overflow(f"more than {self.outbox.max_bytes} bytes wait to be sent to this client")

    def overflow(self, why: str) -> None:
        """A slow consumer: drop what waits and send only the ERROR, then close."""
        if self.outbox.closing:
            return
        log.info("session %s (%s) is a slow consumer: %s", self.id, self.peer, why)
        self.conn.data_to_send(time.monotonic())
        self.conn.fail(StompError("slow consumer", why))
        self._start_closing()
        self.outbox.replace(self.conn.data_to_send(time.monotonic()))

    def _start_closing(self) -> None:
        self.closing_since = time.monotonic()
        self._next_tick = 0.0

    # -- events --------------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        match event:
            case SendRequested():
                await self._send(event)
            case Acked():
                for token in event.tokens:
                    await token.ack()
            case Nacked():
                for token in event.tokens:
                    await token.nack(event.requeue)
            case Subscribed():
                self.conn.send_receipt(event.receipt, await self._subscribe(event))
                return
            case Unsubscribed():
                await self._unsubscribe(event)
            case ConnectRequested():
                await self._connect(event)
            case Committed():
                for inner in event.events:
                    await self._handle(inner)
            case DisconnectRequested():
                await self._cancel_subscriptions()
            case ReceiptRequested():
                pass
        self.conn.send_receipt(event.receipt)

    async def _connect(self, event: ConnectRequested) -> None:
        identity = await self.node.authenticator.authenticate(event.login, event.passcode)
        if identity is None:
            raise StompError("access refused", "bad login or passcode")
        self.form = form_from_header(event.headers.get("x-hutch-form"))
        self.rules = rules_from_header(event.headers.get("x-hutch-rules"))
        if not USER_NAME.fullmatch(identity.user):
            raise StompError("bad login", "a user name is letters, digits, '-', '_' and '.' (at most 100)")
        await self.node.ensure_user(identity.user)
        self.identity = identity
        self.conn.accept(self.id, time.monotonic())
        await self._touch_presence()

    async def _touch_presence(self) -> None:
        assert self.identity is not None
        ttl = self.node.settings.presence_ttl
        self._presence_due = time.monotonic() + ttl / 3
        try:
            await self.node.store.touch_presence(self.identity.user, self.id, ttl)
        except Exception as error:  # presence is best effort: it expires by itself
            log.info("presence of %s not refreshed: %s", self.identity.user, error)

    async def _subscribe(self, event: Subscribed) -> dict[str, str] | None:
        """Subscribe; returns headers for the RECEIPT (`x-recovered` after a recovery)."""
        destination = parse_destination(event.destination)
        await self._authorize(destination, subscribe=True)
        since = event.headers.get("x-since")
        prefetch = _count(event.headers, "prefetch-count")
        durable = event.headers.get("durable", event.headers.get("persistent")) == "true"
        durable = durable and event.headers.get("auto-delete") != "true"
        broker = self.node.broker
        match destination.kind:
            case Kind.TEMP_QUEUE | Kind.REPLY_QUEUE:
                raise StompError("bad destination", f"{event.destination} is only valid as a reply-to")
            case Kind.EXCHANGE | Kind.TOPIC if not durable:
                local = LocalSubscription(
                    self, event.id, event.ack, prefetch, self.node.settings.max_pending_acks
                )
                if since is not None:
                    local.hold()  # live messages wait until the missed ones are replayed
                self._subscriptions[event.id] = local
                if is_user_stream(destination.exchange) and not destination.key:
                    await self.node.streams.open(local, stream_owner(destination.exchange))
                else:
                    await local.attach(self.node.fanout, destination.exchange, destination.key)
                if since is not None:
                    return await self._recover(local, destination, since)
                return None
            case Kind.EXCHANGE | Kind.TOPIC:  # durable: a queue of its own, named by user and id
                queue = f"stomp-subscription-{self._user}-{event.id}"
                await broker.declare_queue(queue, durable=True)
                await broker.bind_queue(queue, destination.exchange, destination.key)
            case Kind.QUEUE:
                queue = await self._declare_shared(destination)
            case Kind.AMQ_QUEUE:
                queue = await broker.declare_queue(destination.name, passive=True)
        subscription = QueueSubscription(self, event.id, event.ack, queue)
        await subscription.start(broker, prefetch)
        self._subscriptions[event.id] = subscription
        return None

    async def _recover(
        self, local: LocalSubscription, destination: Destination, since: str
    ) -> dict[str, str]:
        """Replay from history what the user missed since `since`, in order, then go live."""
        user = self._user
        if destination.exchange != topology.subscribe_exchange(user):
            raise StompError("bad x-since", f"x-since works on /exchange/{topology.subscribe_exchange(user)}")
        try:
            id_key(since)
        except ValueError as error:
            raise StompError("bad x-since", str(error)) from None
        missed: list[StoredMessage] = []
        complete = True
        for cid in await self.node.store.conversations_of(user):
            history = await self.node.store.history(cid, after=since, limit=self.node.settings.history_limit)
            missed.extend(history.messages)
            complete = complete and history.complete
        missed.sort(key=lambda stored: id_key(stored.id))
        recovered = "true" if complete else "false"
        replayed: set[str] = set()
        for stored in missed:
            local.push(replayed_message(stored, self.form, recovered))
            if isinstance(uuid := stored.message.get("uuid"), str):
                replayed.add(uuid)
        local.release(skip=replayed)
        return {"x-recovered": recovered, "x-replayed": str(len(missed))}

    async def _authorize(self, destination: Destination, *, subscribe: bool) -> None:
        assert self.identity is not None
        await permissions.check(
            self.identity,
            destination,
            subscribe=subscribe,
            conversations=self.node.conversations,
            open_destinations=self.node.settings.open_destinations,
        )

    async def _unsubscribe(self, event: Unsubscribed) -> None:
        subscription = self._subscriptions.pop(event.id, None)
        if subscription is None:
            return
        await self._cancel(subscription)
        # "UNSUBSCRIBE with durable:true" ends a durable subscription: its queue goes.
        ends_durable = event.headers.get("durable") == "true" and isinstance(subscription, QueueSubscription)
        if ends_durable and subscription.queue.startswith("stomp-subscription-"):
            await self.node.broker.delete_queue(subscription.queue)

    async def _send(self, event: SendRequested) -> None:
        destination = parse_destination(event.destination)
        headers = {name: value for name, value in event.headers.items() if name not in _FRAME_ONLY}
        with_default_rules(headers, self.rules)
        await self._authorize(destination, subscribe=False)
        body, message = normalize_send(headers, event.body)
        if message is not None and _is_conversation_message(destination):
            uuid = message.get("uuid")
            if isinstance(uuid, str) and not await self.node.store.first_send(uuid):
                return  # sent before (a retry after a lost receipt): stored and delivered once
        reply_to = headers.get("reply-to", "")
        if reply_to.startswith("/temp-queue/"):
            headers["reply-to"] = await self._reply_queue(parse_destination(reply_to).name)
        match destination.kind:
            case Kind.TEMP_QUEUE:
                raise StompError(
                    "bad destination", "send to a /temp-queue/ through the reply-to of a message"
                )
            case Kind.QUEUE:
                await self._declare_shared(destination)
            case Kind.AMQ_QUEUE | Kind.REPLY_QUEUE:
                await self.node.broker.declare_queue(destination.name, passive=True)
        await self.node.broker.publish(destination.exchange, destination.key, Message(body, headers))

    async def _declare_shared(self, destination: Destination) -> str:
        if destination.name not in self._declared_queues:
            await self.node.broker.declare_queue(destination.name, durable=True)
            self._declared_queues.add(destination.name)
        return destination.name

    async def _reply_queue(self, name: str) -> str:
        """A private queue for replies, made at the first reply-to naming it."""
        queue = self._reply_queues.get(name)
        if queue is None:
            queue = await self.node.broker.declare_queue("", exclusive=True, auto_delete=True)
            sub_id = f"/temp-queue/{name}"
            self.conn.add_subscription(sub_id)
            subscription = QueueSubscription(self, sub_id, "auto", queue)
            await subscription.start(self.node.broker, prefetch=0)
            self._subscriptions[sub_id] = subscription
            self._reply_queues[name] = queue
        return f"/reply-queue/{queue}"

    async def _cancel_subscriptions(self) -> None:
        subscriptions, self._subscriptions = list(self._subscriptions.values()), {}
        for subscription in subscriptions:
            await self._quietly(self._cancel(subscription))

    async def _cancel(self, subscription: Subscription) -> None:
        if isinstance(subscription, LocalSubscription):
            await self.node.streams.forget(subscription)
        await subscription.cancel()

    async def _quietly(self, operation: Any) -> None:
        try:
            await operation
        except BrokerError as error:
            log.info("session %s: cleanup failed: %s", self.id, error)

    @property
    def _user(self) -> str:
        return self.identity.user if self.identity else "anonymous"


def _is_conversation_message(destination: Destination) -> bool:
    return destination.exchange.endswith(".publish") and destination.key.endswith(".messages")


def replayed_message(stored: StoredMessage, form: Form, recovered: str) -> OutgoingMessage:
    headers = {
        "content-type": content_type(form, RULES),
        "x-hutch-id": stored.id,
        "x-hutch-replay": "true",
        "x-recovered": recovered,
    }
    destination = f"/exchange/{topology.publish_exchange(stored.sender)}/{stored.conversation}.messages"
    return OutgoingMessage(destination, headers, encode(stored.message, form, RULES))


def _count(headers: dict[str, str], name: str) -> int:
    raw = headers.get(name, "0")
    if not raw.isdigit():
        raise StompError(f"bad {name}", f"{name} must be a whole number, not '{raw}'")
    return int(raw)
