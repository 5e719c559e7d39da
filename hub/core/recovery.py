"""A subscription with `x-since`: what the user missed is replayed from history, then it goes live.

The missed messages (`conversations.recovery.Missed`) go to the client at its pace, in a task of
their own, while live ones wait on the subscription (`LocalSubscription.hold`); a live message
already replayed is not sent twice. The RECEIPT comes last, with `x-recovered` (false when
history lost part of the gap) and `x-replayed` (how many were sent).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Protocol

from hutch.hub.conversations.model import StoredMessage, id_key
from hutch.hub.conversations.recovery import Missed
from hutch.hub.conversations.store import ConversationStore
from hutch.hub.core.subscriptions import LocalSubscription
from hutch.hub.messages.encoding import RULES, LocalCopy
from hutch.hub.store.errors import StoreUnavailable
from hutch.protocol import OutgoingMessage, StompError, names
from hutch.protocol.destinations import Destination, Kind
from hutch.rules import Form, content_type, encode

log = logging.getLogger(__name__)

SETTLE_SECONDS = 30.0  # how long after a replay stored acks are checked for missed messages
SETTLE_MAX = 10_000  # uuids remembered meanwhile, at most


class ReplaySink(Protocol):
    """The session side of a replay."""

    form: Form

    @property
    def has_room(self) -> bool: ...

    def when_room(self, callback: object) -> None: ...

    def send_receipt(self, receipt: str | None, headers: dict[str, str]) -> None: ...

    def fail(self, error: StompError) -> None: ...


def check_since(destination: Destination, since: str, user: str) -> None:
    """x-since works on the user's own stream, with a history id."""
    stream = names.subscribe_exchange(user)
    if destination.kind is not Kind.EXCHANGE or destination.exchange != stream or destination.key:
        raise StompError("bad x-since", f"x-since works on /exchange/{stream}")
    try:
        id_key(since)
    except ValueError as error:
        raise StompError("bad x-since", str(error)) from None


class Replays:
    """The replays running on one session, one per subscription at most."""

    def __init__(self, store: ConversationStore, sink: ReplaySink):
        self.store = store
        self.sink = sink
        self._running: dict[LocalSubscription, asyncio.Task[None]] = {}

    async def start(self, local: LocalSubscription, user: str, since: str, receipt: str | None) -> None:
        """Read the first page of what `user` missed now (a store error is the SUBSCRIBE's), then
        replay in a task of its own; `local` must hold its live messages until then."""
        missed = await Missed.of(self.store, await self.store.conversations_of(user), since)
        task = asyncio.get_running_loop().create_task(self._replay(local, missed, receipt))
        self._running[local] = task
        task.add_done_callback(lambda _: self._running.pop(local, None))

    async def stop(self, local: LocalSubscription) -> None:
        if (task := self._running.pop(local, None)) is not None:
            task.cancel()

    async def _replay(self, local: LocalSubscription, missed: Missed, receipt: str | None) -> None:
        recovered = "true" if missed.complete else "false"
        replayed: set[str] = set()
        count = 0
        try:
            while (stored := await missed.next()) is not None:
                await self._room_for(local)
                local.push(replayed_message(stored, self.sink.form, recovered))
                count += 1
                if isinstance(uuid := stored.message.get("uuid"), str):
                    replayed.add(uuid)
            local.settling = Settling(self.store, local, self.sink.form, set(replayed))
            local.release(skip=replayed)
            self.sink.send_receipt(receipt, {"x-recovered": recovered, "x-replayed": str(count)})
        except StoreUnavailable as error:
            self.sink.fail(StompError("store unavailable", str(error), receipt))
        except Exception:  # a replay runs in a task of its own: nothing else would say it failed
            log.exception("the replay of subscription %s failed", local.id)
            self.sink.fail(StompError("internal error", "the hub failed to replay what was missed", receipt))

    async def _room_for(self, local: LocalSubscription) -> None:
        """Wait until the client has taken enough to be given one more replayed message."""
        while not (self.sink.has_room and local.can_take):
            woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            wake = functools.partial(_resolve, woken)
            if self.sink.has_room:
                local.on_settled = wake  # the client acks: its window opens
            else:
                self.sink.when_room(wake)
            await woken


class Settling:
    """What a replay cannot see: a message routed before the subscription was bound and stored
    after the replay read history (the worker lagged: it was moving to another RabbitMQ node,
    say). Its stored ack does come to the subscription. For a while after the replay, an ack
    for a uuid the subscription never carried has the stored message read and sent, after newer
    ones perhaps (clients order by `x-hutch-id`)."""

    def __init__(self, store: ConversationStore, local: LocalSubscription, form: Form, carried: set[str]):
        self.store = store
        self.local = local
        self.form = form
        self.carried = carried  # uuids the subscription has had
        self.until = time.monotonic() + SETTLE_SECONDS
        self._fetching: set[asyncio.Task[None]] = set()

    def __call__(self, delivered: LocalCopy) -> None:
        if time.monotonic() > self.until or len(self.carried) > SETTLE_MAX:
            self.local.settling = None
            return
        message = delivered.decoded
        uuid = message.get("uuid") if message else None
        if not isinstance(uuid, str) or uuid in self.carried:
            return
        self.carried.add(uuid)
        if message and delivered.headers.get(names.STORED_HEADER) == "true":
            data, cid = message.get("data"), message.get("destination")
            stored_id = data.get("id") if isinstance(data, dict) else None
            # the conversation the ack was routed for (defence in depth: only the worker stamps it)
            routed = isinstance(cid, str) and delivered.destination.endswith(
                f"/{names.message_key(cid, 'notifications')}"
            )
            if routed and isinstance(stored_id, str):
                task = asyncio.get_running_loop().create_task(self._send_missed(cid, stored_id, uuid))
                self._fetching.add(task)
                task.add_done_callback(self._fetching.discard)

    async def _send_missed(self, cid: str, stored_id: str, uuid: str) -> None:
        try:
            stored = await self.store.message(cid, stored_id)
        except (StoreUnavailable, ValueError) as error:
            log.warning("a message missed by subscription %s could not be read: %s", self.local.id, error)
            return
        if stored is not None and stored.message.get("uuid") == uuid and not self.local.cancelled:
            self.local.push(replayed_message(stored, self.form, "true"))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
