"""The MAX topology: which exchanges, queues and bindings a hub keeps, on any broker.

    conversations (topic)   every conversation message, key "<cid>.<kind>"
    activity (topic)        activity streams, key "<context>"
    <user>.publish (topic)  where a user's clients publish; bound onward while they may
    <user>.subscribe (fanout) everything a user's devices receive
    messages (queue)        conversations "*.messages", for the worker that stores them
    push (queue)            conversations "*.notifications" and all activity, for push bridges;
                            declared by a bridge that has a push service, so that nothing
                            piles up in it where none runs

A member of a conversation has two exchange-to-exchange bindings with key
"<cid>.*": `<user>.publish -> conversations` (the routing itself is the write
permission) and `conversations -> <user>.subscribe` (delivery). Declarations are
idempotent: every node declares the base at start.
"""

from __future__ import annotations

from hutch.hub.broker.base import Broker
from hutch.hub.names import broker_name, check_user, user_of_broker_name

CONVERSATIONS = "conversations"
ACTIVITY = "activity"
MESSAGES_QUEUE = "messages"
PUSH_QUEUE = "push"
INTERNAL_KEY = "internal"  # <user>.publish -> <user>.subscribe: reach all of one's own devices


PUBLISH = ".publish"
SUBSCRIBE = ".subscribe"
HUB_PREFIX = "hutch."  # the hub's own exchanges and queues: never a client's
MAX_NAMES = frozenset({CONVERSATIONS, ACTIVITY, MESSAGES_QUEUE, PUSH_QUEUE, f"{MESSAGES_QUEUE}.dead"})


def publish_exchange(user: str) -> str:
    return broker_name(user) + PUBLISH


def subscribe_exchange(user: str) -> str:
    return broker_name(user) + SUBSCRIBE


def user_exchange_owner(exchange: str) -> tuple[str, str] | None:
    """(user, "publish" or "subscribe") for a user's own exchange, else None."""
    for suffix in (PUBLISH, SUBSCRIBE):
        if exchange.endswith(suffix) and len(exchange) > len(suffix):
            try:
                return user_of_broker_name(exchange.removesuffix(suffix)), suffix[1:]
            except UnicodeError:
                return None
    return None


def sender_of(exchange: str) -> str:
    """The user whose `.publish` exchange a message came through ("" for any other exchange)."""
    owner = user_exchange_owner(exchange)
    return owner[0] if owner and owner[1] == "publish" else ""


def conversation_of(routing_key: str) -> str:
    """The conversation a key "<cid>.<kind>" is about."""
    return routing_key.partition(".")[0]


def conversation_key(cid: str) -> str:
    return f"{cid}.*"


async def declare_base(broker: Broker) -> None:
    await broker.declare_exchange(CONVERSATIONS, "topic")
    await broker.declare_exchange(ACTIVITY, "topic")
    # One worker at a time stores, so history keeps the order messages were sent in; more
    # workers wait to take over.
    await broker.declare_queue(MESSAGES_QUEUE, durable=True, single_active_consumer=True)
    await broker.bind_queue(MESSAGES_QUEUE, CONVERSATIONS, "*.messages")


async def declare_push(broker: Broker) -> None:
    await broker.declare_queue(PUSH_QUEUE, durable=True)
    await broker.bind_queue(PUSH_QUEUE, CONVERSATIONS, "*.notifications")
    await broker.bind_queue(PUSH_QUEUE, ACTIVITY, "#")


async def declare_user(broker: Broker, user: str) -> None:
    check_user(user)  # BadName before anything is declared: no half-made bindings
    await broker.declare_exchange(publish_exchange(user), "topic")
    await broker.declare_exchange(subscribe_exchange(user), "fanout")
    await broker.bind_exchange(subscribe_exchange(user), publish_exchange(user), INTERNAL_KEY)


async def add_member(broker: Broker, cid: str, user: str) -> None:
    """Let `user` write to and read from conversation `cid`."""
    await declare_user(broker, user)
    await broker.bind_exchange(CONVERSATIONS, publish_exchange(user), conversation_key(cid))
    await broker.bind_exchange(subscribe_exchange(user), CONVERSATIONS, conversation_key(cid))


async def remove_member(broker: Broker, cid: str, user: str) -> None:
    """From now on `user` neither writes to nor receives from `cid`."""
    await broker.unbind_exchange(CONVERSATIONS, publish_exchange(user), conversation_key(cid))
    await broker.unbind_exchange(subscribe_exchange(user), CONVERSATIONS, conversation_key(cid))
