"""Dead letters: a message that cannot be handled moves to a queue of its own, with why."""

from __future__ import annotations

import logging

from hutch.hub.broker.base import Broker, Delivery, Message

log = logging.getLogger(__name__)


async def dead_letter(broker: Broker, queue: str, delivery: Delivery, reason: str) -> bool:
    """Move `delivery` to `queue`, its headers telling why and where it was going; True once
    moved. If the broker cannot take it either, it goes back to its queue: nothing is lost."""
    headers = {
        **delivery.message.headers,
        "x-hutch-dead-reason": reason,
        "x-hutch-routing-key": delivery.routing_key,
    }
    try:
        await broker.publish("", queue, Message(delivery.message.body, headers))
    except Exception as error:
        log.error("could not dead-letter a message of %s (%s); it stays queued", delivery.routing_key, error)
        await delivery.nack(requeue=True)
        return False
    await delivery.ack()
    log.error("dead-lettered a message of %s to %s: %s", delivery.routing_key, queue, reason)
    return True
