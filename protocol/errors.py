"""Errors of the STOMP protocol layer.

    StompError               anything that ends a connection with an ERROR frame
    └── ProtocolError        the client broke STOMP: bad bytes, bad frame, bad state
        └── LimitExceeded    a frame, header or wait went past a configured limit

Each error carries the ERROR frame it causes: `message` is the short header a
client shows, `detail` the body, `receipt_id` the receipt of the frame at fault,
`headers` any further headers of the reply.
Code above the protocol (the hub) raises `StompError` for refusals of its own,
such as an unknown destination, and the connection turns it into the same reply.
"""

from __future__ import annotations

from enum import StrEnum


class Wording(StrEnum):
    """The `message` header of each refusal RabbitMQ's STOMP adapter also makes, in its words,
    so that a client written against RabbitMQ recognises it; hutch's own detail is the body.
    `tests/compat` sends the same frames to RabbitMQ and checks each word for word."""

    INVALID_DESTINATION = "Invalid destination"  # a name RabbitMQ would not take (a '/' in it)
    UNKNOWN_DESTINATION = "Unknown destination"  # no such destination kind
    MISSING_DESTINATION = "Missing destination"
    BAD_COMMAND = "Bad command"
    ILLEGAL_COMMAND = "Illegal command"  # anything before CONNECT
    DUPLICATED_SUBSCRIPTION = "Duplicated subscription identifier"
    NO_SUBSCRIPTION = "No subscription found"
    MISSING_ID = "Missing destination or id"  # UNSUBSCRIBE naming nothing
    MISSING_HEADER = "Missing header"
    MISSING_DURABLE_ID = "Missing Header"  # sic: RabbitMQ capitalises this one
    INVALID_HEADER = "Invalid header"
    MISSING_TRANSACTION = "Missing transaction"
    BAD_TRANSACTION = "Bad transaction"
    BAD_CONNECT = "Bad CONNECT"  # a refused login or virtual host
    VERSION_MISMATCH = "Version mismatch"
    NOT_FOUND = "not_found"  # the broker has no such queue or exchange


class StompError(Exception):
    """Ends the connection: the client gets an ERROR frame, then the close."""

    def __init__(
        self,
        message: str,
        detail: str = "",
        receipt_id: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(f"{message}: {detail}" if detail else message)
        self.message = message
        self.detail = detail
        self.receipt_id = receipt_id
        self.headers = headers or {}  # further ERROR headers, e.g. `version` on a version mismatch


class ProtocolError(StompError):
    """The client's bytes or frames break STOMP."""


class LimitExceeded(ProtocolError):
    """A frame, a header, the header count or a deadline went past its limit."""
