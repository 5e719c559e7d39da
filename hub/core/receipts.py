"""Delivery receipts: a sender learns which devices of the other members have each message.

A message counts as delivered to a device when the hub has written it to the device's
connection (`ack:auto` subscriptions: written, not yet seen) or when the device ACKed it
(`ack:client` and `client-individual`). Receipts are batched: every `interval` a node
publishes all that was delivered on it meanwhile, for every sender, in one message to every
node (`hutch.receipts`, fanout), and each node hands each sender's share to that sender's
devices open on it, as one message:

    {"action": "delivered", "object": "receipt",
     "data": {"delivered": [{"conversation", "uuid", "user", "device"}, ...]}}

So a message to a group of 200 costs the sender one frame per node, not 200, and receipts
cost the broker one message per node and interval, not one per sender: a chat where everyone
talks would otherwise route a receipt for every message sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator

import orjson
from hutch.hub.broker.amqp_properties import PUBLISHED_BY
from hutch.hub.broker.base import Message
from hutch.hub.conversations.envelopes import envelope
from hutch.hub.messages.encoding import RULES, WIRE, LocalCopy
from hutch.protocol import names
from hutch.protocol.destinations import destination_of
from hutch.rules import content_type, encode

log = logging.getLogger(__name__)

Delivered = list[dict[str, str]]  # [{"conversation", "uuid", "user", "device"}, ...]
Publish = Callable[[Message], Awaitable[None]]  # a node's batch, to every node
MAX_WAITING = 10_000  # receipts held for one sender between flushes; more are dropped
BATCH_RECEIPTS = 10_000  # receipts in one message to the nodes (of several senders, whole)
_FIELDS = ("conversation", "uuid", "user", "device")
_ALL_TEXT = (str,) * len(_FIELDS)


class DeliveryReceipts:
    def __init__(self, publish: Publish, login: str, interval: float = 0.25):
        self.publish = publish
        self.login = login  # the hub's broker login: what makes a batch the hub's
        self.interval = interval
        self._waiting: defaultdict[str, Delivered] = defaultdict(list)
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

    async def _publish(self, batches: dict[str, Delivered]) -> None:
        for part in _parts(batches):
            message = Message(
                orjson.dumps(part), {"content-type": "application/json", PUBLISHED_BY: self.login}
            )
            try:
                await self.publish(message)
            except Exception as error:  # the broker is away: these receipts are lost, not the messages
                log.info("delivery receipts of %d senders not sent: %s", len(part), error)

    def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None


def _parts(batches: dict[str, Delivered]) -> Iterator[dict[str, Delivered]]:
    """The batches in messages of at most BATCH_RECEIPTS receipts (a sender's are never split)."""
    part: dict[str, Delivered] = {}
    count = 0
    for sender, delivered in batches.items():
        if part and count + len(delivered) > BATCH_RECEIPTS:
            yield part
            part, count = {}, 0
        part[sender] = delivered
        count += len(delivered)
    if part:
        yield part


def batch_of(message: Message, login: str) -> dict[str, object]:
    """A node's batch, each sender's part as sent (`receipt_for` checks the part it hands on):
    empty unless the hub's own login published it (RabbitMQ checks the user_id) as a JSON object."""
    if message.headers.get(PUBLISHED_BY) != login:
        log.warning("ignored delivery receipts not published by the hub")
        return {}
    try:
        batch = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        batch = None
    if not isinstance(batch, dict):
        log.warning("ignored malformed delivery receipts: %r", message.body[:200])
        return {}
    return batch


def receipt_for(sender: str, delivered: object) -> LocalCopy | None:
    """What `sender`'s devices receive for their part of a batch: one MAX message for all their
    receipts, as if sent to them through `hutch.direct`; None for a part that is not receipts."""
    if not (isinstance(delivered, list) and all(map(_is_receipt, delivered))):
        log.warning("ignored malformed delivery receipts for %s: %r", sender, delivered)
        return None
    message = envelope(sender, "delivered", "receipt", {"delivered": delivered}, "")
    return LocalCopy(
        destination_of(names.DIRECT, names.broker_name(sender)),
        {"content-type": content_type(WIRE, RULES)},
        encode(message, WIRE, RULES),
    )


def _is_receipt(item: object) -> bool:
    # maps rather than a generator: checked for every receipt of every batch, on every node
    return type(item) is dict and tuple(map(type, map(item.get, _FIELDS))) == _ALL_TEXT
