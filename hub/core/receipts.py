"""Delivery receipts: a sender learns which devices of the other members have each message.

A message counts as delivered to a device when the hub has written it to the device's
connection (`ack:auto` subscriptions: written, not yet seen) or when the device ACKed it
(`ack:client` and `client-individual`). Receipts are batched per sender: every `interval`
a node sends each sender one message holding all that was delivered on it meanwhile, to
the sender's devices only (`hutch.direct`, key "<sender>"), so a message to a group of 200
costs the sender one frame per node, not 200:

    {"action": "delivered", "object": "receipt",
     "data": {"delivered": [{"conversation", "uuid", "user", "device"}, ...]}}
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from hutch.hub.messages.encoding import LocalCopy

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]  # (sender, receipt data)
MAX_WAITING = 10_000  # receipts held for one sender between flushes; more are dropped


class DeliveryReceipts:
    def __init__(self, publish: Publish, interval: float = 0.25):
        self.publish = publish
        self.interval = interval
        self._waiting: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def taken(self, copy: LocalCopy, user: str, device: str) -> None:
        """`user`'s `device` has `copy`: the sender hears of it in the next batch."""
        about = copy.chat_message
        if about is None or about[0] == user:  # one's own messages need no receipt
            return
        sender, cid, uuid = about
        waiting = self._waiting[sender]
        if len(waiting) < MAX_WAITING:
            waiting.append({"conversation": cid, "uuid": uuid, "user": user, "device": device})
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.interval, self._send_all)

    def _send_all(self) -> None:
        self._flush = None
        batches, self._waiting = self._waiting, defaultdict(list)
        task = asyncio.get_running_loop().create_task(self._publish(batches))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, batches: dict[str, list[dict[str, str]]]) -> None:
        for sender, delivered in batches.items():
            try:
                await self.publish(sender, {"delivered": delivered})
            except Exception as error:  # the broker is away: these receipts are lost, not the messages
                log.info("delivery receipts for %s not sent: %s", sender, error)

    def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
