"""What a session does with a SEND: the headers a client may not set dropped, the body checked
and put in the wire form with its sender stamped, a repeated chat message dropped, the queue
a destination needs made, then one publish to the broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.broker.base import Message, header_problem
from hutch.hub.messages.encoding import normalize_send, with_default_rules
from hutch.protocol import SendRequested, StompError, Wording, names
from hutch.protocol.destinations import Kind, parse_destination

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


class Publisher:
    def __init__(self, node: HubNode, session: Session, subscriber: Subscriber):
        self.node = node
        self.session = session
        self.subscriber = subscriber

    async def send(self, event: SendRequested) -> None:
        destination = parse_destination(event.destination)
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
        if message is not None and names.is_chat_message(destination.exchange, destination.key):
            uuid = message.get("uuid")
            if isinstance(uuid, str) and not await self.node.stores.conversations.first_send(uuid):
                return  # sent before (a retry after a lost receipt): stored and delivered once
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
        await self.node.broker.publish(destination.exchange, destination.key, Message(body, headers))
