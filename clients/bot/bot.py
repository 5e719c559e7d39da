"""`Bot`: hear conversations on `<bot>.subscribe`, talk on `<bot>.publish`, over AMQP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from hutch.clients.seen import Seen
from hutch.protocol import names
from hutch.rules import CodecError, Form, content_type, decode, encode, parse_content_type

log = logging.getLogger(__name__)

SEND_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)  # a publish while RabbitMQ is away waits for the reconnect
REMEMBERED = 10_000  # uuids of the last messages handled, so that none is handled twice


class Bot:
    """Subclass it and override `on_message` (chat from others) or `on_event` (everything heard)."""

    def __init__(
        self,
        name: str,
        amqp_url: str,
        *,
        rules: str = "max@1",
        prefetch: int = 50,
        queue_expires: float | None = None,
    ):
        """`queue_expires`: seconds the bot's queue outlives the bot (None: it keeps messages for ever)."""
        self.name = name
        self.amqp_url = amqp_url
        self.rules = rules
        self.prefetch = prefetch
        self.queue_name = f"bot.{name}"
        self.queue_arguments = {"x-expires": int(queue_expires * 1000)} if queue_expires else None
        self._connection: AbstractRobustConnection | None = None
        self._publish: aio_pika.abc.AbstractExchange | None = None
        self._stopped = asyncio.Event()
        self._handled = Seen(REMEMBERED)

    async def start(self) -> None:
        """Declare the bot's exchanges and durable queue (idempotent, as hub nodes do) and listen."""
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self.prefetch)
        # Durable, as the hub declares them: RabbitMQ refuses a declaration that differs.
        self._publish = await channel.declare_exchange(
            names.publish_exchange(self.name), aio_pika.ExchangeType.TOPIC, durable=True
        )
        subscribe = await channel.declare_exchange(
            names.subscribe_exchange(self.name), aio_pika.ExchangeType.FANOUT, durable=True
        )
        await subscribe.bind(self._publish, names.INTERNAL_KEY)
        queue = await channel.declare_queue(self.queue_name, durable=True, arguments=self.queue_arguments)
        await queue.bind(subscribe)
        await queue.consume(self._on_delivery)
        log.info("bot %s listening on %s", self.name, self.queue_name)

    async def stop(self) -> None:
        self._stopped.set()
        if self._connection is not None:
            await self._connection.close()

    async def run(self) -> None:
        """Start, then serve until `stop()`."""
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    # -- override these -----------------------------------------------------

    async def on_message(self, cid: str, message: dict[str, Any]) -> None:
        """A chat message from someone else in conversation `cid`."""

    async def on_event(self, cid: str, kind: str, message: dict[str, Any]) -> None:
        """Everything the bot hears: `kind` is the routing key's second part (messages, notifications)."""
        sender = message.get("user", {}).get("username") if isinstance(message.get("user"), dict) else None
        if kind == "messages" and message.get("action") == "add" and sender != self.name:
            await self.on_message(cid, message)

    # -- talking ------------------------------------------------------------

    async def say(self, cid: str, text: str, **data: Any) -> dict[str, Any]:
        """Post a chat message to `cid`; returns it once RabbitMQ confirmed it."""
        message = {
            "uuid": uuid.uuid4().hex,
            "user": {"username": self.name},
            "action": "add",
            "object": "message",
            "data": {"text": text, **data},
            "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        await self.publish(names.message_key(cid), message)
        return message

    async def publish(self, routing_key: str, message: dict[str, Any]) -> None:
        """Publish a MAX message to the bot's own exchange, packed, and wait for the confirm."""
        body = encode(message, Form.PACKED_MSGPACK, self.rules)
        outgoing = aio_pika.Message(
            body,
            content_type=content_type(Form.PACKED_MSGPACK, self.rules),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.get("uuid"),
        )
        for delay in (*SEND_RETRIES, None):
            try:
                assert self._publish is not None, "start() the bot first"
                await self._publish.publish(outgoing, routing_key)
                return
            except (AMQPError, ChannelInvalidStateError, ConnectionError) as error:
                if delay is None:
                    raise
                log.info("publish failed (%s); again in %.1f s", error, delay)
                await asyncio.sleep(delay)

    async def _on_delivery(self, delivery: AbstractIncomingMessage) -> None:
        async with delivery.process(requeue=False, ignore_processed=True):
            key = delivery.routing_key or ""
            cid, kind = names.conversation_of(key), names.kind_of(key)
            message = self._decode(delivery)
            if message is None:
                return
            if self._handled_before(kind, message):
                return
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await self.on_event(cid, kind, message)
                except Exception:
                    log.exception("bot %s failed on a message of %s", self.name, cid)

    def _handled_before(self, kind: str, message: dict[str, Any]) -> bool:
        """True for a message (by kind and uuid) the bot has handled or is handling; notes it.

        RabbitMQ delivers again what it had not seen acked when a connection was cut, though
        the bot may have answered it already, or be answering it (its publish waiting for the
        reconnect): handling it again would answer twice.
        """
        uuid = message.get("uuid")
        if not isinstance(uuid, str):
            return False
        if self._handled.first_time(f"{kind}:{uuid}"):  # a stored ack has its message's uuid
            return False
        log.info("bot %s skipped %s %s: handled already", self.name, kind, uuid)
        return True

    def _decode(self, delivery: AbstractIncomingMessage) -> dict[str, Any] | None:
        coded = parse_content_type(delivery.content_type)
        if coded is None:
            log.warning(
                "bot %s skipped a message that is not a hutch message (%s)", self.name, delivery.content_type
            )
            return None
        try:
            message = decode(delivery.body, *coded)
        except CodecError as error:
            log.warning("bot %s skipped a message that does not decode: %s", self.name, error)
            return None
        return message if isinstance(message, dict) else None
