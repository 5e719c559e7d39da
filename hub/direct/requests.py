"""Admin sends of bots over AMQP: a JSON body, as `POST /api/<audience>` takes it, published to
the `hutch.sends` exchange with key send, multicast or broadcast and the `user_id` property.

RabbitMQ refuses a `user_id` other than the publishing connection's user, so it names who
sent; only the AMQP users of `HUTCH_DIRECT_SENDERS` may. A request with a `reply-to` is
answered there: `{"id", "deliverAt"}`, or `{"error"}` saying why it was refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from hutch.hub.auth import ADMIN, Identity
from hutch.hub.broker.amqp_properties import PUBLISHED_BY
from hutch.hub.broker.base import Broker, Consumer, Delivery, Message
from hutch.hub.direct.service import AUDIENCES, Direct
from hutch.hub.errors import Refused
from hutch.protocol import names

log = logging.getLogger(__name__)

QUEUE = names.SENDS


class SendRequests:
    def __init__(self, broker: Broker, direct: Direct, senders: frozenset[str]):
        self.broker = broker
        self.direct = direct
        self.senders = senders
        self._consumer: Consumer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.broker.declare_exchange(names.SENDS, "topic")
        await self.broker.declare_queue(QUEUE, durable=True)
        await self.broker.bind_queue(QUEUE, names.SENDS, "#")
        self._consumer = await self.broker.consume(QUEUE, self._on_request, no_ack=False)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()

    def _on_request(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self.handle(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, delivery: Delivery) -> None:
        sender = delivery.message.headers.get(PUBLISHED_BY, "")
        answer: dict[str, Any]
        try:
            if sender not in self.senders:
                raise Refused(f"'{sender}' may not send: only the AMQP users of HUTCH_DIRECT_SENDERS may")
            if delivery.routing_key not in AUDIENCES:
                raise Refused(f"the key is one of {', '.join(AUDIENCES)}")
            try:
                body = orjson.loads(delivery.message.body)
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                raise Refused("the body is a JSON object, as POST /api/send takes")
            job = await self.direct.submit(
                Identity(sender, roles=frozenset({ADMIN})), delivery.routing_key, body
            )
            answer = {"id": job.id, "deliverAt": job.shown()["deliverAt"]}
        except Refused as refused:
            log.warning("an AMQP send request of '%s' was refused: %s", sender, refused.description)
            answer = {"error": refused.description}
        except Exception as error:  # the store is away: the request waits in its queue
            log.warning("an AMQP send request could not be handled now: %s", error)
            await asyncio.sleep(1.0)
            await delivery.nack(requeue=True)
            return
        await delivery.ack()
        if reply_to := delivery.message.headers.get("reply-to"):
            correlation = {k: v for k, v in delivery.message.headers.items() if k == "correlation-id"}
            await self.broker.publish("", reply_to, Message(orjson.dumps(answer), correlation))
