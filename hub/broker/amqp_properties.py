"""STOMP headers to AMQP properties and back, as RabbitMQ's STOMP adapter maps them: the
headers named in `base.AMQP_PROPERTIES` become properties, `persistent` the delivery mode,
`priority` and `expiration` theirs, everything else an AMQP header."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiormq
from aio_pika.abc import DeliveryMode
from hutch.hub.broker.base import AMQP_PROPERTIES, Message

# The AMQP user who published a message, from its `user_id` property: RabbitMQ refuses one that
# is not the publishing connection's user, so this names the publisher.
PUBLISHED_BY = "x-hutch-published-by"


def to_amqp(message: Message) -> aiormq.spec.Basic.Properties:
    properties: dict[str, Any] = {"delivery_mode": DeliveryMode.NOT_PERSISTENT.value, "priority": 0}
    headers: dict[str, Any] = {}
    for name, value in message.headers.items():
        if name in AMQP_PROPERTIES:
            properties[AMQP_PROPERTIES[name]] = value
        elif name == "persistent":
            properties["delivery_mode"] = (
                DeliveryMode.PERSISTENT if value == "true" else DeliveryMode.NOT_PERSISTENT
            ).value
        elif name == "expiration":
            properties["expiration"] = value  # milliseconds, in STOMP as in AMQP (checked: header_problem)
        elif name == "priority":
            properties["priority"] = int(value)
        elif (
            name == PUBLISHED_BY
        ):  # the hub's own login, as RabbitMQ checks it (clients cannot set x-hutch-*)
            properties["user_id"] = value
        else:
            headers[name] = value
    return aiormq.spec.Basic.Properties(headers=headers, **properties)


def from_amqp(properties: aiormq.spec.Basic.Properties, body: bytes) -> Message:
    headers = {name: _header_text(value) for name, value in (properties.headers or {}).items()}
    headers.pop(PUBLISHED_BY, None)  # only RabbitMQ's checked user_id says who published
    if properties.user_id:
        headers[PUBLISHED_BY] = str(properties.user_id)
    for header, attribute in AMQP_PROPERTIES.items():
        value = getattr(properties, attribute)
        # aiormq stamps a random message_id on every publish: it says nothing about the message.
        if value is not None and attribute != "message_id":
            headers[header] = str(value)
    if properties.delivery_mode == DeliveryMode.PERSISTENT:
        headers["persistent"] = "true"
    if properties.priority:
        headers["priority"] = str(properties.priority)
    return Message(body, headers)


def _header_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
