"""One client connection: STOMP events in, broker operations and frames out.

The protocol object says what the client asked for; the session does it, in
order, one event at a time, and answers each receipt only once the work is
done (a subscription is bound, a message is taken by the broker). Any refusal
is a `StompError` (or a broker or store error) and becomes the ERROR frame that
ends the connection; nothing a client sends can raise past this class.

The session is the event loop of a connection; the work is done by its parts:

    Subscriber       SUBSCRIBE and UNSUBSCRIBE, the queues they need, replays (`x-since`)
    Publisher        SEND
    PresenceKeeper   online while connected
    Outbox           frames waiting for the socket; past its limit, a slow consumer is cut off
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hutch.hub import logs
from hutch.hub.auth import Identity
from hutch.hub.broker.errors import BrokerError
from hutch.hub.core.outbox import Outbox
from hutch.hub.core.publishing import Publisher
from hutch.hub.core.ratelimit import Flow
from hutch.hub.core.subscriber import Subscriber
from hutch.hub.messages.encoding import DEFAULT_FORM, form_from_header, rules_from_header
from hutch.hub.presence.keeper import PresenceKeeper
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
    Wording,
    names,
)

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


class Session:
    def __init__(
        self,
        node: HubNode,
        peer: str = "",
        *,
        on_ready: Callable[[], None] = _nothing,
        abort: Callable[[], None] = _nothing,
    ):
        """`on_ready` is called when frames wait in the outbox; `abort` drops the transport now."""
        self.node = node
        self.peer = peer
        self.id = secrets.token_hex(8)
        self.conn = ServerConnection(node.limits, now=time.monotonic(), server=node.server_name)
        self.outbox = Outbox(node.settings.outbox_max_bytes, on_ready)
        self.abort = abort
        self.identity: Identity | None = None
        self.form = DEFAULT_FORM  # how coded messages reach this client
        self.rules: str | None = None  # the rule set of its SENDs, when it named one
        self.closing_since: float | None = None
        self.subscriber = Subscriber(node, self)
        self.publisher = Publisher(node, self, self.subscriber)
        self.presence: PresenceKeeper | None = None  # once logged in
        self._closed = False
        self.flow = Flow(node.settings.connection_rate())
        self._next_tick = 0.0  # before it, a tick has nothing to do (see tick)

    @property
    def user(self) -> str:
        return self.identity.user if self.identity else "anonymous"

    # -- from the transport --------------------------------------------------

    async def receive(self, data: bytes) -> None:
        now = time.monotonic()
        events = self.conn.receive_data(data, now)
        if (too_fast := self.flow.refusal(len(events), len(data), now)) is not None:
            self.node.metrics.count("rate_limited", "stomp")
            log.info("%s goes too fast: %s", self.peer, too_fast)
            self.conn.fail(StompError("rate limit", too_fast))
            self.flush()
            return
        for event in events:
            try:
                await self._handle(event)
            except StompError as error:
                error.receipt_id = error.receipt_id or getattr(event, "receipt", None)
                log.info("ERROR %r to %s: %s", error.message, self.peer, error.detail)
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
        if self.presence is not None and self.conn.state is State.CONNECTED:
            self.presence.refresh_if_due(now)
        if self.closing_since is not None and now - self.closing_since > self.node.settings.close_timeout:
            self.abort()  # the client does not take its last frames: stop waiting for it
        self._next_tick = self._next_due(now)

    def _next_due(self, now: float) -> float:
        due = self.conn.next_tick()
        if self.conn.state is State.CONNECTED:
            if self.presence is not None:
                due = min(due, self.presence.due)
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
        """End the session from the hub's side (shutdown, expiry, a replay that failed): ERROR, then close."""
        self.conn.fail(error)
        self.flush()

    async def close(self) -> None:
        """The transport is gone: release subscriptions and queues (unacked messages are requeued)."""
        if self._closed:
            return
        self._closed = True
        self.node.registry.remove(self)
        self.node.metrics.session_ended(self)
        if self.identity is not None:
            self.node.user_flows.leave(self.identity.user)
        if self.presence is not None:
            await self.presence.drop()
        await self.subscriber.close()

    # -- to the transport ----------------------------------------------------

    def flush(self) -> None:
        """Move what the protocol produced into the outbox; start closing once it is CLOSING."""
        if not self.outbox.put(self.conn.data_to_send(time.monotonic())):
            self._cut_off()
            return
        if self.conn.state is State.CLOSING and not self.outbox.closing:
            self._start_closing()
            self.outbox.close()

    def send_message(
        self, message: OutgoingMessage, subscription: str, token: Any = None, *, redelivered: bool = False
    ) -> None:
        if self._closed:
            return
        # Once per recipient of a fan-out: `flush` without its closing check (a MESSAGE never
        # closes a connection).
        conn = self.conn
        conn.send_message(message, subscription, token, redelivered=redelivered)
        if not self.outbox.put(conn.data_to_send(time.monotonic())):
            self._cut_off()

    def send_receipt(self, receipt: str | None, headers: dict[str, str]) -> None:
        """A RECEIPT sent outside the order of events (a replay's, once it is done)."""
        self.conn.send_receipt(receipt, headers)
        self.flush()

    @property
    def has_room(self) -> bool:
        return self.outbox.has_room

    def when_room(self, callback: Callable[[], None]) -> None:
        self.outbox.when_room(callback)

    def _cut_off(self) -> None:
        self.overflow(f"more than {self.outbox.max_bytes} bytes wait to be sent to this client")

    def overflow(self, why: str) -> None:
        """A slow consumer: drop what waits and send only the ERROR, then close."""
        if self.outbox.closing:
            return
        log.info("session %s (%s) is a slow consumer: %s", self.id, self.peer, why)
        self.node.metrics.count("slow_consumers")
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
                await self.publisher.send(event)
            case Acked():
                for token in event.tokens:
                    await token.ack()
            case Nacked():
                for token in event.tokens:
                    await token.nack(event.requeue)
            case Subscribed():
                await self.subscriber.subscribe(event)  # it answers the receipt itself
                return
            case Unsubscribed():
                await self.subscriber.unsubscribe(event)
            case ConnectRequested():
                await self._connect(event)
            case Committed():
                for inner in event.events:
                    await self._handle(inner)
            case DisconnectRequested():
                await self.subscriber.cancel_all()
            case ReceiptRequested():
                pass
        self.conn.send_receipt(event.receipt)

    async def _connect(self, event: ConnectRequested) -> None:
        host = event.host or "/"  # RabbitMQ's default virtual host
        allowed = self.node.settings.allowed_hosts
        if allowed is not None and host not in allowed:
            raise StompError(Wording.BAD_CONNECT, f"Virtual host '{host[:100]}' access denied")
        identity = await self.node.authenticator.authenticate(event.login, event.passcode)
        if identity is None:
            raise StompError(Wording.BAD_CONNECT, f"Access refused for user '{(event.login or '')[:100]}'\n")
        self.form = form_from_header(event.headers.get("x-hutch-form"))
        self.rules = rules_from_header(event.headers.get("x-hutch-rules"))
        try:
            names.check_user(identity.user)
        except names.BadName as error:
            raise StompError("bad login", str(error)) from None
        await self.node.ensure_user(identity.user)
        self.identity = identity
        logs.on_connection(self.id, identity.user)
        self.node.user_flows.join(self.flow, identity.user)
        self.conn.accept(self.id, time.monotonic())
        self.presence = PresenceKeeper(self.node.presence_refreshes, identity.user, self.id)
        # The login set the deadlines (heart-beats, presence, expiry): the next tick looks again.
        # Nothing a client sends makes one sooner (it moves them later), so ticks stay cheap.
        self._next_tick = 0.0
        await self.presence.touch()
