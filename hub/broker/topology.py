"""The MAX topology: which exchanges, queues and bindings a hub keeps, on any broker.

    conversations (topic)   every conversation message, key "<cid>.<kind>"
    activity (topic)        activity streams, key "<context>"
    hutch.notifications (topic)  each user's new notifications, key "<user>", for push bridges
    hutch.direct (topic)    admin sends: key "<user>" live to a user's devices, "hutch.everyone"
                            to every device, "hutch.offline" to the push bridges
    <user>.publish (topic)  where a user's clients publish; bound onward while they may
    <user>.subscribe (fanout) everything a user's devices receive
    messages (queue)        every <user>.publish "*.messages", for the worker that stores them
                            (a hub node stores what it takes itself, and publishes it to
                            `conversations` past this queue: `conversations.stored`)
    push (queue)            conversations "*.notifications" (and "*.messages" when chat messages
                            are stored on send), all activity and notifications, and
                            hutch.direct "hutch.offline", for push bridges;
                            declared by a bridge that has a push service, so that nothing
                            piles up in it where none runs

A member of a conversation has two exchange-to-exchange bindings with key
"<cid>.*": `<user>.publish -> conversations` (the routing itself is the write
permission) and `conversations -> <user>.subscribe` (delivery). The worker's queue takes
what any user publishes and stores it only from a member, as the store knows at that moment.
Declarations are idempotent: every node declares the base at start.
"""

from __future__ import annotations

from hutch.hub.broker.base import Broker
from hutch.protocol.names import (
    ACTIVITY,
    CONVERSATIONS,
    DIRECT,
    INTERNAL_KEY,
    MESSAGES_QUEUE,
    NOTIFICATIONS,
    OFFLINE_KEY,
    PUSH_QUEUE,
    check_user,
    conversation_key,
    publish_exchange,
    subscribe_exchange,
)


async def declare_base(broker: Broker) -> None:
    await broker.declare_exchange(CONVERSATIONS, "topic")
    await broker.declare_exchange(ACTIVITY, "topic")
    await broker.declare_exchange(NOTIFICATIONS, "topic")
    await broker.declare_exchange(DIRECT, "topic")
    # One worker at a time stores, so history keeps the order messages were sent in; more
    # workers wait to take over.
    await broker.declare_queue(MESSAGES_QUEUE, durable=True, single_active_consumer=True)
    # Where earlier hubs bound it: each message stored on send would be copied to it for nothing.
    await broker.unbind_queue(MESSAGES_QUEUE, CONVERSATIONS, "*.messages")


async def declare_push(broker: Broker, *, stored_on_send: bool = False) -> None:
    await broker.declare_queue(PUSH_QUEUE, durable=True)
    await broker.bind_queue(PUSH_QUEUE, CONVERSATIONS, "*.notifications")
    if stored_on_send:  # the messages themselves say they are stored: no worker's ack follows
        await broker.bind_queue(PUSH_QUEUE, CONVERSATIONS, "*.messages")
    await broker.bind_queue(PUSH_QUEUE, ACTIVITY, "#")
    await broker.bind_queue(PUSH_QUEUE, NOTIFICATIONS, "#")
    await broker.bind_queue(PUSH_QUEUE, DIRECT, OFFLINE_KEY)


async def declare_user(broker: Broker, user: str) -> None:
    check_user(user)  # BadName before anything is declared: no half-made bindings
    await broker.declare_exchange(publish_exchange(user), "topic")
    await broker.declare_exchange(subscribe_exchange(user), "fanout")
    await broker.bind_exchange(subscribe_exchange(user), publish_exchange(user), INTERNAL_KEY)
    await broker.bind_queue(MESSAGES_QUEUE, publish_exchange(user), "*.messages")


async def add_member(broker: Broker, cid: str, user: str) -> None:
    """Let `user` write to and read from conversation `cid`."""
    await declare_user(broker, user)
    await broker.bind_exchange(CONVERSATIONS, publish_exchange(user), conversation_key(cid))
    await broker.bind_exchange(subscribe_exchange(user), CONVERSATIONS, conversation_key(cid))


async def remove_member(broker: Broker, cid: str, user: str) -> None:
    """From now on `user` neither writes to nor receives from `cid`."""
    await broker.unbind_exchange(CONVERSATIONS, publish_exchange(user), conversation_key(cid))
    await broker.unbind_exchange(subscribe_exchange(user), CONVERSATIONS, conversation_key(cid))
