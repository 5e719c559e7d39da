"""What a message's body says, as the worker stores it and the push bridge reads it."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from hutch.hub.broker.base import Message
from hutch.rules import CodecError, decode, parse_content_type

log = logging.getLogger(__name__)


def expanded(message: Message) -> dict[str, Any]:
    """The message as a dict: decoded by its rule set, or JSON, or its text as data.text."""
    coded = parse_content_type(message.headers.get("content-type"))
    if coded is not None:
        try:
            return decode(message.body, coded[0], coded[1])
        except CodecError as error:
            log.warning("a stored message does not decode (%s): kept as text", error)
    if message.body.lstrip()[:1] == b"{":  # any JSON object is a message, known fields or not
        try:
            value = orjson.loads(message.body)  # a depth past its limit is a ValueError too
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return {"data": {"text": message.body.decode("utf-8", "replace")}}
