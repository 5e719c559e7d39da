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
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hutch.hub.auth import Identity
from hutch.hub.broker.base import Message, header_problem
from hutch.hub.broker.errors import BrokerError
from hutch.hub.conversations.model import StoredMessage, id_key
from hutch.hub.conversations.recovery import Missed
from hutch.hub.conversations.service import RULES
from hutch.hub.core import permissions
from hutch.hub.core.outbox import Outbox
from hutch.hub.core.streams import stream_owner
from hutch.hub.core.subscriptions import LocalSubscription, QueueSubscription
from hutch.hub.messages.encoding import (
    DEFAULT_FORM,
    form_from_header,
    normalize_send,
    rules_from_header,
    with_default_rules,
)
from hutch.hub.store.errors import StoreUnavailable
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
    names,
    whole_number,
)
from hutch.protocol.destinations import Destination, Kind, parse_destination
from hutch.rules import Form, content_type, encode

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

log = logging.getLogger(__name__)

# Headers of a SEND frame that describe the frame, not the message.
_FRAME_ONLY = frozenset({"destination", "receipt", "transaction", "content-length"})
# Headers the hub sets on what it delivers: a client's SEND never carries them on.
_HUB_SET = frozenset(
    {"message-id", "subscription", "ack", "redelivered", "user-id", "x-recovered", "x-replayed", "x-since"}
)
_HUB_PREFIX = "x-hutch-"
MAX_PREFETCH = 65535  # AMQP's basic.qos prefetch-count is a short
DURABLE_QUEUE_PREFIX = f"{names.HUB_PREFIX}durable."

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
        self._replays: dict[LocalSubscription, asyncio.Task[None]] = {}

    # -- from the transport --------------------------------------------------

    async def receive(self, data: bytes) -> None:
        self._next_tick = 0.0  # what the client sent may change any deadline: look again
        for event in self.conn.receive_data(data, time.monotonic()):
            try:
                await self._handle(event)
            except StompError as error:
                error.receipt_id = error.receipt_id or getattr(event, "receipt", None)
                self.conn.fail(error)
            except StoreUnavailable as error:
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

    def last_words(self, error: StompError) -> list[bytes]:
        """End the session with `error` and hand back its ERROR now, for a transport that
        closes at once (the outbox is skipped: nothing else would be read)."""
        self.conn.fail(error)
        self.outbox.close()
        return self.conn.data_to_send(time.monotonic())[-1:]

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
                await self.node.stores.presence.drop(self.identity.user, self.id)
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

    @property
    def has_room(self) -> bool:
        return self.outbox.has_room

    def when_room(self, callback: Callable[[], None]) -> None:
        self.outbox.when_room(callback)

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
                if not await self._subscribe(event):  # a recovery answers once it has replayed
                    self.conn.send_receipt(event.receipt)
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
        try:
            names.check_user(identity.user)
        except names.BadName as error:
            raise StompError("bad login", str(error)) from None
        await self.node.ensure_user(identity.user)
        self.identity = identity
        self.conn.accept(self.id, time.monotonic())
        await self._touch_presence()

    async def _touch_presence(self) -> None:
        assert self.identity is not None
        ttl = self.node.settings.presence_ttl
        self._presence_due = time.monotonic() + ttl / 3
        try:
            await self.node.stores.presence.touch(self.identity.user, self.id, ttl)
        except Exception as error:  # presence is best effort: it expires by itself
            log.info("presence of %s not refreshed: %s", self.identity.user, error)

    async def _subscribe(self, event: Subscribed) -> bool:
        """Subscribe; True when a recovery started, which sends the RECEIPT itself once done."""
        destination = parse_destination(event.destination)
        durable = _durable(event.headers) and event.headers.get("auto-delete") != "true"
        await self._authorize(destination, subscribe=True, durable=durable)
        since = event.headers.get("x-since")
        if since is not None:
            self._check_since(destination, since)
        prefetch = _count(event.headers, "prefetch-count", MAX_PREFETCH)
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
                owner = stream_owner(destination.exchange) if destination.kind is Kind.EXCHANGE else None
                if owner is not None and not destination.key:
                    await self.node.streams.open(local, owner)
                elif destination.exchange == names.CONVERSATIONS:  # ends when the user leaves it
                    await self.node.streams.open_conversation(local, self._user, destination.key)
                else:
                    await local.attach(self.node.fanout, destination.exchange, destination.key)
                if since is not None:
                    await self._recover(local, since, event.receipt)
                    return True
                return False
            case Kind.EXCHANGE | Kind.TOPIC:  # durable: a queue of its own, named by user and id
                queue = durable_queue_name(self._user, event.id)
                self.node.queues.claim(self._user, queue)
                await broker.declare_queue(queue, durable=True)
                await broker.bind_queue(queue, destination.exchange, destination.key)
            case Kind.QUEUE:
                queue = await self._declare_shared(destination)
            case Kind.AMQ_QUEUE:
                queue = await broker.declare_queue(destination.name, passive=True)
        subscription = QueueSubscription(self, event.id, event.ack, queue)
        await subscription.start(broker, prefetch)
        self._subscriptions[event.id] = subscription
        return False

    def _check_since(self, destination: Destination, since: str) -> None:
        stream = names.subscribe_exchange(self._user)
        if destination.kind is not Kind.EXCHANGE or destination.exchange != stream or destination.key:
            raise StompError("bad x-since", f"x-since works on /exchange/{stream}")
        try:
            id_key(since)
        except ValueError as error:
            raise StompError("bad x-since", str(error)) from None

    async def _recover(self, local: LocalSubscription, since: str, receipt: str | None) -> None:
        """Replay from history what the user missed since `since`, in order, then go live; the
        replay goes at the client's pace, in a task of its own, and ends with the RECEIPT
        (`x-recovered`, `x-replayed`)."""
        store = self.node.stores.conversations
        missed = await Missed.of(store, await store.conversations_of(self._user), since)
        task = asyncio.get_running_loop().create_task(self._replay(local, missed, receipt))
        self._replays[local] = task
        task.add_done_callback(lambda _: self._replays.pop(local, None))

    async def _replay(self, local: LocalSubscription, missed: Missed, receipt: str | None) -> None:
        recovered = "true" if missed.complete else "false"
        replayed: set[str] = set()
        count = 0
        try:
            while (stored := await missed.next()) is not None:
                await self._room_for(local)
                local.push(replayed_message(stored, self.form, recovered))
                count += 1
                if isinstance(uuid := stored.message.get("uuid"), str):
                    replayed.add(uuid)
            local.release(skip=replayed)
            self.conn.send_receipt(receipt, {"x-recovered": recovered, "x-replayed": str(count)})
        except StoreUnavailable as error:
            self.conn.fail(StompError("store unavailable", str(error), receipt))
        except Exception:  # a replay runs in a task of its own: nothing else would say it failed
            log.exception("session %s: the replay failed", self.id)
            self.conn.fail(StompError("internal error", "the hub failed to replay what was missed", receipt))
        self.flush()

    async def _room_for(self, local: LocalSubscription) -> None:
        """Wait until the client has taken enough to be given one more replayed message."""
        while not (self.outbox.has_room and local.can_take):
            woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            wake = functools.partial(_resolve, woken)
            if self.outbox.has_room:
                local.on_settled = wake  # the client acks: its window opens
            else:
                self.outbox.when_room(wake)
            await woken

    async def _authorize(self, destination: Destination, *, subscribe: bool, durable: bool = False) -> None:
        assert self.identity is not None
        await permissions.check(
            self.identity,
            destination,
            subscribe=subscribe,
            conversations=self.node.conversations,
            grants=self.node.grants,
            durable=durable,
        )

    async def _unsubscribe(self, event: Unsubscribed) -> None:
        subscription = self._subscriptions.pop(event.id, None)
        if subscription is None:
            return
        await self._cancel(subscription)
        # "UNSUBSCRIBE with durable:true" (or RabbitMQ's older persistent:true) ends a durable
        # subscription: its queue goes.
        ends_durable = _durable(event.headers) and isinstance(subscription, QueueSubscription)
        if ends_durable and subscription.queue.startswith(DURABLE_QUEUE_PREFIX):
            await self.node.broker.delete_queue(subscription.queue)
            self.node.queues.release(subscription.queue)

    async def _send(self, event: SendRequested) -> None:
        destination = parse_destination(event.destination)
        headers = {
            name: value
            for name, value in event.headers.items()
            if name not in _FRAME_ONLY and name not in _HUB_SET and not name.startswith(_HUB_PREFIX)
        }
        with_default_rules(headers, self.rules)
        if (problem := header_problem(headers)) is not None:
            raise StompError("bad header", problem)
        await self._authorize(destination, subscribe=False)
        body, message = normalize_send(
            headers, event.body, sender=self._user, max_depth=self.node.settings.max_json_depth
        )
        if message is not None and names.is_chat_message(destination.exchange, destination.key):
            uuid = message.get("uuid")
            if isinstance(uuid, str) and not await self.node.stores.conversations.first_send(uuid):
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
            self.node.queues.claim(self._user, destination.name)
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
            if (replay := self._replays.pop(subscription, None)) is not None:
                replay.cancel()
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


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _durable(headers: dict[str, str]) -> bool:
    return headers.get("durable", headers.get("persistent")) == "true"


def durable_queue_name(user: str, sub_id: str) -> str:
    """The queue of a durable subscription: the hub's (no client can name it), one per
    (user, id), with the id hashed so that no two pairs share a name and it stays short."""
    digest = hashlib.sha256(sub_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{DURABLE_QUEUE_PREFIX}{names.broker_name(user)}.{digest}"


def replayed_message(stored: StoredMessage, form: Form, recovered: str) -> OutgoingMessage:
    headers = {
        "content-type": content_type(form, RULES),
        "x-hutch-id": stored.id,
        "x-hutch-replay": "true",
        "x-recovered": recovered,
    }
    destination = (
        f"/exchange/{names.publish_exchange(stored.sender)}/{names.message_key(stored.conversation)}"
    )
    return OutgoingMessage(destination, headers, encode(stored.message, form, RULES))


def _count(headers: dict[str, str], name: str, most: int) -> int:
    raw = headers.get(name, "0")
    number = whole_number(raw, most)
    if number is None:
        raise StompError(f"bad {name}", f"{name} must be a whole number from 0 to {most}, not '{raw[:50]}'")
    return number
