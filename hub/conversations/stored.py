"""The "stored" ack, and chat messages stored on send.

Every member of a conversation hears that a message is stored: the MAX ack, same uuid, the
history id in `data.id`, key `<cid>.notifications`, header `x-hutch-stored`. With
`HUTCH_STORE_ON_SEND=false` the worker stores and publishes that ack through RabbitMQ, a second
message for every chat message.

By default (`HUTCH_STORE_ON_SEND`) the node that takes the SEND stores the message first (the
store checks the sender is a member) and publishes it to `conversations` itself, marked: its
history id, uuid and sender in `x-hutch-id`, `x-hutch-uuid` and `x-hutch-sender`, and the
hub's own broker login in `x-hutch-published-by` (RabbitMQ's checked `user_id`: a bot cannot
forge it under a login of its own). So it never reaches the worker's queue, which is bound to
the users' `.publish` exchanges. Each node that receives a marked message delivers it as if it
had come through its sender's `.publish` exchange, as RabbitMQ shows a message a member sent,
and makes the ack for its own members from the mark; the push bridge pushes the message itself.
What a bot sends over AMQP takes the worker's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hutch.hub.broker.amqp_properties import PUBLISHED_BY
from hutch.hub.broker.base import Delivery, Message
from hutch.hub.broker.bodies import expanded
from hutch.hub.conversations.envelopes import envelope
from hutch.hub.messages import payload
from hutch.hub.messages.encoding import RULES, WIRE, stamp_sender
from hutch.protocol import names
from hutch.rules import content_type, encode


def as_stored(message: Message, sender: str) -> dict[str, Any]:
    """What is stored of a chat message: decoded (its text as `data.text` if it is not coded),
    the sender whose exchange it went through stamped on it."""
    stored = expanded(message)
    if sender:
        stamp_sender(stored, sender)
    return stored


def unstorable(cid: str, message: dict[str, Any]) -> str | None:
    """Why a chat message cannot be stored (it would not read back), or None."""
    try:
        names.check_conversation(cid)
        payload.check(message)
    except ValueError as error:
        return str(error)
    return None


def marks(stored_id: str, uuid: str | None, sender: str, login: str) -> dict[str, str]:
    """The headers of a message stored on send, as the node that stored it publishes it."""
    marked = {names.STORED_ID_HEADER: stored_id, names.STORED_SENDER_HEADER: sender, PUBLISHED_BY: login}
    if uuid is not None:
        marked[names.STORED_UUID_HEADER] = uuid
    return marked


def stored_on_send(message: Message, login: str) -> str | None:
    """The history id a hub node stored `message` under as it was sent, else None: not marked,
    or marked by someone who is not the hub (`login`)."""
    headers = message.headers
    if headers.get(PUBLISHED_BY) != login:
        return None
    return headers.get(names.STORED_ID_HEADER)


def stored_ack(sender: str, cid: str, stored_id: str, uuid: str | None) -> Message:
    """The MAX "stored" ack of a message, in the wire form, as the worker publishes it."""
    ack = envelope(sender, "ack", "message", {"id": stored_id}, cid, uuid)
    headers = {"content-type": content_type(WIRE, RULES), "persistent": "true", names.STORED_HEADER: "true"}
    return Message(encode(ack, WIRE, RULES), headers)


@dataclass(slots=True)
class LocalDelivery:
    """A delivery the node makes for its own members as if RabbitMQ had; settled as the broker's
    delivery it stands for, if any."""

    exchange: str
    routing_key: str
    message: Message
    redelivered: bool = False
    stands_for: Delivery | None = None
    # (sender, conversation, uuid) of a chat message, as its marks name them: what a delivery
    # receipt is about, known without decoding the body (see `LocalCopy.chat_message`)
    chat_message: tuple[str, str, str] | None = None

    async def ack(self) -> None:
        if self.stands_for is not None:
            await self.stands_for.ack()

    async def nack(self, requeue: bool = True) -> None:
        if self.stands_for is not None:
            await self.stands_for.nack(requeue)


def as_delivered(delivery: Delivery, login: str) -> tuple[Delivery, ...]:
    """What this node delivers to its members for `delivery` from `conversations`: a chat message a
    hub node stored on send as if through its sender's `.publish` exchange, then the "stored" ack
    it implies; anything else as it came."""
    message = delivery.message
    stored_id = stored_on_send(message, login)
    cid, _, kind = delivery.routing_key.partition(".")
    # A node before the sender mark published through the sender's exchange.
    sender = message.headers.get(names.STORED_SENDER_HEADER) or names.sender_of(delivery.exchange)
    if stored_id is None or kind != "messages" or not sender:
        return (delivery,)
    exchange = names.publish_exchange(sender)
    uuid = message.headers.get(names.STORED_UUID_HEADER)
    ack = stored_ack(sender, cid, stored_id, uuid)
    chat = (sender, cid, uuid) if uuid else None
    return (
        LocalDelivery(exchange, delivery.routing_key, message, delivery.redelivered, delivery, chat),
        LocalDelivery(exchange, names.message_key(cid, "notifications"), ack),
    )
