"""What a session does with a SEND: the headers a client may not set dropped, the body checked
and put in the wire form with its sender stamped, a repeated chat message dropped, the queue
a destination needs made, then one publish to the broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from hutch.hub.broker.base import Message, header_problem
from hutch.hub.conversations.stored import as_stored
from hutch.hub.direct.service import AUDIENCES
from hutch.hub.errors import Forbidden, Invalid, Refused
from hutch.hub.messages.encoding import normalize_send, with_default_rules
from hutch.protocol import SendRequested, StompError, Wording, names
from hutch.protocol.destinations import Destination, Kind, parse_destination

if TYPE_CHECKING:
    from hutch.hub.core.session import Session
    from hutch.hub.core.subscriber import Subscriber
    from hutch.hub.node import HubNode

# Headers of a SEND frame that describe the frame, not the message.
_FRAME_ONLY = frozenset({"destination", "receipt", "transaction", "content-length"})
# Headers the hub sets on what it delivers: a client's SEND never carries them on.
_HUB_SET = frozenset(
    {"message-id", "subscription", "ack", "redelivered", "user-id", "x-recovered", "x-replayed", "x-since"}
)
_HUB_PREFIX = "x-hutch-"
DELIVER_AT = "x-hutch-deliver-at"  # a chat message sent then (RFC 3339), not now


class Publisher:
    def __init__(self, node: HubNode, session: Session, subscriber: Subscriber):
        self.node = node
        self.session = session
        self.subscriber = subscriber

    async def send(self, event: SendRequested) -> None:
        destination = parse_destination(event.destination)
        if destination.exchange == names.SENDS:  # an admin's send: the hub's to do, not the broker's
            await self._direct(destination.key, event)
            return
        headers = {
            name: value
            for name, value in event.headers.items()
            if name not in _FRAME_ONLY and name not in _HUB_SET and not name.startswith(_HUB_PREFIX)
        }
        with_default_rules(headers, self.session.rules)
        if (problem := header_problem(headers)) is not None:
            raise StompError("bad header", problem)
        await self.subscriber.authorize(destination, subscribe=False)
        body, message = normalize_send(
            headers, event.body, sender=self.session.user, max_depth=self.node.settings.max_json_depth
        )
        claimed = None  # the chat message's uuid, marked sent
        chat = message is not None and names.is_chat_message(destination.exchange, destination.key)
        # Stored on send, a repeat is known by the uuid stored; a message kept for later is not stored yet.
        if chat and (not self.node.conversations.store_on_send or DELIVER_AT in event.headers):
            assert message is not None
            uuid = message.get("uuid")
            if isinstance(uuid, str):
                if not await self.node.stores.conversations.first_send(uuid):
                    return  # sent before (a retry after a lost receipt): stored and delivered once
                claimed = uuid
        try:
            await self._send(event, destination, headers, body, message)
        except BaseException:
            if claimed is not None:  # not sent after all: its retry must not count as a repeat
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.node.stores.conversations.forget_send(claimed))
            raise

    async def _send(
        self,
        event: SendRequested,
        destination: Destination,
        headers: dict[str, str],
        body: bytes,
        message: dict[str, Any] | None,
    ) -> None:
        if (deliver_at := event.headers.get(DELIVER_AT)) is not None:
            await self._schedule(destination.key, message, deliver_at)
            return
        reply_to = headers.get("reply-to", "")
        if reply_to.startswith("/temp-queue/"):
            headers["reply-to"] = await self.subscriber.reply_queue(parse_destination(reply_to).name)
        match destination.kind:
            case Kind.TEMP_QUEUE:
                raise StompError(
                    Wording.INVALID_DESTINATION,
                    f"'{event.destination}' is not a valid destination for 'SEND' (name it in a reply-to)",
                )
            case Kind.QUEUE:
                await self.subscriber.declare_shared(destination)
            case Kind.AMQ_QUEUE | Kind.REPLY_QUEUE:
                await self.node.broker.declare_queue(destination.name, passive=True)
        publish = self.node.broker.publish
        if self.node.conversations.store_on_send and names.is_chat_message(
            destination.exchange, destination.key
        ):
            await self._store_and_send(
                destination,
                Message(body, headers),
                message,
                lambda marked: publish(names.CONVERSATIONS, destination.key, Message(body, headers | marked)),
            )
            return
        await publish(destination.exchange, destination.key, Message(body, headers))

    async def _store_and_send(
        self,
        destination: Destination,
        sent: Message,
        message: dict[str, Any] | None,
        publish: Callable[[dict[str, str]], Awaitable[None]],
    ) -> None:
        """Stored as the worker would store it: the sender is whose exchange it goes through, and
        a body that is not coded is its text (a coded one was decoded and stamped already)."""
        sender, cid = names.sender_of(destination.exchange), names.conversation_of(destination.key)
        stored = message if message is not None else as_stored(sent, sender)
        try:
            await self.node.conversations.store_and_send(sender, cid, stored, publish)
        except Invalid as invalid:
            raise StompError("bad message", invalid.description) from None
        except Forbidden as forbidden:  # no longer a member, as the store knows at this moment
            raise StompError("access refused", forbidden.description) from None

    async def _schedule(self, key: str, message: dict[str, Any] | None, deliver_at: str) -> None:
        """A chat message kept until `deliver_at`: then posted as the REST API posts it."""
        if message is None or not key.endswith(".messages"):
            raise StompError("bad header", f"{DELIVER_AT} is for coded chat messages to '<cid>.messages'")
        data = message.get("data")
        if not isinstance(data, dict):
            raise StompError("bad message", "a scheduled chat message holds its content in 'data'")
        identity = self.session.identity
        assert identity is not None
        try:
            await self.node.direct.schedule_chat(identity, names.conversation_of(key), data, deliver_at)
        except Refused as refused:
            raise StompError("not scheduled", refused.description) from None

    async def _direct(self, audience: str, event: SendRequested) -> None:
        """`/exchange/hutch.sends/<send|multicast|broadcast>`: a JSON body as `POST /api/<audience>`
        takes it, from an admin."""
        identity = self.session.identity
        assert identity is not None
        if audience not in AUDIENCES:
            raise StompError(
                Wording.INVALID_DESTINATION,
                f"'{event.destination}': send to {names.SENDS}/send, multicast or broadcast",
            )
        try:
            body = orjson.loads(event.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise StompError("bad message", "an admin's send is a JSON object, as POST /api/send takes")
        try:
            await self.node.direct.submit(identity, audience, body)
        except Refused as refused:
            raise StompError("not sent", refused.description) from None
