"""The worker: stores conversation messages, then tells the members they are stored.

It consumes the `messages` queue (every user's `.publish` `*.messages`: a bot's messages over
AMQP, and a hub node's with `HUTCH_STORE_ON_SEND=false`). A message a hub node stored as it was
sent (`conversations.stored`) does not come here; from an earlier node it is only taken off the
queue. The queue takes what anyone sends to any conversation: the store keeps a message only
from a member, at that moment, and drops the others, as RabbitMQ's member bindings drop them
on their way to the members. Each message it stores in history (once per uuid), publishes
the MAX `ack` (same uuid, the stored id in `data.id`) to the sender's `.publish`
exchange with key `<cid>.notifications`, so that every member sees the "stored"
check, then takes it off the queue; on RabbitMQ that publish overlaps the storing of the next
messages. What has
arrived while the worker stored is stored together, in one round trip to the store. A message
that cannot be stored is retried a few times with backoff, then dead-lettered
to `messages.dead` with the reason in `x-hutch-dead-reason`; it never loops.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hutch.hub.broker.base import Broker, Consumer, Delivery
from hutch.hub.broker.dead_letters import GaveUp, dead_letter, retried
from hutch.hub.broker.errors import BrokerUnavailable
from hutch.hub.conversations.mentions import tell_mentioned
from hutch.hub.conversations.store import Appended, ConversationStore
from hutch.hub.conversations.stored import as_stored, stored_ack, stored_on_send, unstorable
from hutch.hub.errors import Forbidden
from hutch.hub.notifications.events import Notify
from hutch.hub.store.errors import StoreUnavailable
from hutch.protocol import names

log = logging.getLogger(__name__)
T = TypeVar("T")

STORE_AWAY_WAITS = (0.1, 5.0)  # seconds between tries while the store is away: first, longest
ACK_RETRIES = (0.2, 0.5, 1, 2, 4, 8, 15, 30)  # seconds between tries of a stored ack

DEAD_LETTERS = "messages.dead"
STORED = names.STORED_HEADER
RETRY_DELAYS = (0.1, 0.5, 2.0)  # then dead-letter
NOT_A_MEMBER = ("", False)  # what `_append` answers for a sender the store refuses as no member


class Worker:
    def __init__(
        self,
        broker: Broker,
        store: ConversationStore,
        *,
        # Messages wait unacked until their stored ack is out: room for several batches, so
        # that storing goes on while the acks of the last ones wait for their confirms.
        prefetch: int = 100,
        batch: int = 20,  # the most stored together
        notify: Notify | None = None,
    ):
        self.broker = broker
        self.notify = notify  # the feed of each member a stored message mentions
        self.store = store
        self.prefetch = prefetch
        self.batch = batch
        self.retry_delays = RETRY_DELAYS
        self._consumer: Consumer | None = None
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._telling: set[asyncio.Task[None]] = set()
        self.counts: collections.Counter[str] = collections.Counter()  # stored, dead-lettered

    async def start(self) -> None:
        await self.broker.declare_queue(DEAD_LETTERS, durable=True)
        self._runner = asyncio.create_task(self._run())
        self._consumer = await self.broker.consume(
            names.MESSAGES_QUEUE, self._on_delivery, prefetch=self.prefetch
        )
        log.info("worker consuming '%s'", names.MESSAGES_QUEUE)

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
        if self._telling:  # the acks on their way are sent, unless the broker stays away
            _, waiting = await asyncio.wait(set(self._telling), timeout=5)
            for task in waiting:
                task.cancel()
        if self._consumer is not None:  # what is left unhandled goes back to the queue
            await self._consumer.cancel()

    def _on_delivery(self, delivery: Delivery) -> None:
        self._inbox.put_nowait(delivery)

    async def _run(self) -> None:
        """In the order the queue gave them, so that history keeps sending order; what has
        arrived meanwhile is stored together, in one round trip to the store."""
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < self.batch and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self.handle(batch)
            except Exception:  # never let one message stop the worker
                log.exception("the worker failed on messages of %s", batch[0].routing_key)

    async def handle(self, deliveries: list[Delivery]) -> None:
        storable: list[tuple[Delivery, Appended]] = []
        for delivery in deliveries:
            if stored_on_send(delivery.message, self.broker.login) is not None:
                await delivery.ack()  # the hub node that took it stored it, and its ack is each node's
                self.counts["stored on send"] += 1
                continue
            sender = names.sender_of(delivery.exchange)  # who routed it here, whatever the body claims
            cid = names.conversation_of(delivery.routing_key)
            message = as_stored(delivery.message, sender)
            if (refusal := unstorable(cid, message)) is not None:  # a bot over AMQP, unchecked by a hub
                log.warning("dead-lettered a message of %r: %s", cid[:80], refusal)
                await dead_letter(self.broker, DEAD_LETTERS, delivery, refusal)
                self.counts["dead-lettered"] += 1
                continue
            uuid = message.get("uuid") if isinstance(message.get("uuid"), str) else None
            storable.append((delivery, (cid, sender, message, uuid)))
        answers = await self._append_many([appended for _, appended in storable]) if storable else []
        for (delivery, appended), answer in zip(storable, answers, strict=True):
            if answer is None:  # the store refused it among the others: tried alone, then dead-lettered
                try:
                    answer = await retried(
                        lambda appended=appended: self._append(appended),
                        self.retry_delays,
                        f"storing in {appended[0]}",
                    )
                except GaveUp as failure:
                    await dead_letter(self.broker, DEAD_LETTERS, delivery, failure.reason)
                    self.counts["dead-lettered"] += 1
                    continue
            if answer is NOT_A_MEMBER:  # neither stored nor delivered: no member binding routed it
                await delivery.ack()
                self.counts["not a member"] += 1
                continue
            await self._stored(delivery, appended, *answer)

    async def _stored(self, delivery: Delivery, appended: Appended, stored_id: str, new: bool) -> None:
        cid, sender, message, uuid = appended
        self.counts["stored"] += 1
        if new:
            await tell_mentioned(self.notify, self.store, sender, cid, stored_id, message)
        # A repeat's ack goes out too: its first storing may have ended (a failover, a worker
        # killed) after the message was stored and before its ack was sent. So the message
        # leaves the queue only once its ack is out: the next worker gets it again, as a repeat.
        if not self.broker.publish_waits:  # the embedded broker: delivered at once, no task needed
            await self._tell_then_take(delivery, sender, cid, stored_id, uuid)
            return
        # The members' ack goes out while the next messages are stored: on RabbitMQ its
        # publish confirm is a round trip.
        telling = self._tell_then_take(delivery, sender, cid, stored_id, uuid)
        task = asyncio.get_running_loop().create_task(telling)
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _tell_then_take(
        self, delivery: Delivery, sender: str, cid: str, stored_id: str, uuid: str | None
    ) -> None:
        await self._tell_stored(sender, cid, stored_id, uuid)
        await delivery.ack()

    async def _append_many(self, messages: list[Appended]) -> list[tuple[str, bool] | None]:
        """Store them together (they stay unacked and in order while the store is away). None for
        each the store refused, to be tried alone."""
        try:
            return await _when_the_store_is_there(lambda: self.store.append_many(messages, members_only=True))
        except Exception:
            log.exception("storing %d messages together failed; each is tried alone", len(messages))
            return [None] * len(messages)

    async def _append(self, appended: Appended) -> tuple[str, bool]:
        """Append one; NOT_A_MEMBER for a sender who is not one (not tried again). Only a message
        the store refuses is retried and dead-lettered."""
        try:
            return await _when_the_store_is_there(lambda: self.store.append(*appended, members_only=True))
        except Forbidden:
            return NOT_A_MEMBER

    async def _tell_stored(self, sender: str, cid: str, stored_id: str, uuid: str | None) -> None:
        """The MAX ack: every member sees the message is stored."""
        ack = stored_ack(sender, cid, stored_id, uuid)
        exchange, key = names.publish_exchange(sender), names.message_key(cid, "notifications")
        # Tried again while the broker is away (moving to another node, say): a member whose
        # stream was bound too late for the message learns of it from this ack alone.
        failure: Exception | None = None
        for wait in ACK_RETRIES:
            try:
                await self.broker.publish(exchange, key, ack)
                return
            except BrokerUnavailable as error:
                failure = error
                log.info("the stored ack of %s waits for the broker: %s", stored_id, error)
                await asyncio.sleep(wait)
            except Exception as error:
                failure = error
                break
        log.warning("the stored ack of %s could not be sent: %s", stored_id, failure)


async def _when_the_store_is_there(operation: Callable[[], Awaitable[T]]) -> T:
    """Run `operation`, waiting as long as the store is away (a Redis failover, say)."""
    wait = STORE_AWAY_WAITS[0]
    while True:
        try:
            return await operation()
        except StoreUnavailable as error:
            log.warning("storing waits for the store: %s", error)
            await asyncio.sleep(wait)
            wait = min(wait * 2, STORE_AWAY_WAITS[1])
