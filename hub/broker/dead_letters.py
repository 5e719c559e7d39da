"""Dead letters: a message that cannot be handled is tried again a bounded number of times
(`retried`), then moves to a queue of its own, with why (`dead_letter`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from hutch.hub.broker.base import Broker, Delivery, Message

log = logging.getLogger(__name__)

T = TypeVar("T")


class GaveUp(Exception):
    """Every attempt failed; `reason` says how the last one did."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


async def retried(
    attempt: Callable[[], Awaitable[T]],
    delays: Iterable[float],
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """`attempt()` at once, then again after each delay while it raises one of `retry_on`;
    GaveUp after the last. The first try is immediate: a backlog goes through in one go."""
    reason = ""
    for number, delay in enumerate((0.0, *delays)):
        if delay:
            await asyncio.sleep(delay)
        try:
            return await attempt()
        except retry_on as error:
            reason = str(error) if isinstance(error, GaveUp) else f"{type(error).__name__}: {error}"
            log.warning("%s failed (attempt %d): %s", what, number + 1, reason)
    raise GaveUp(reason)


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
