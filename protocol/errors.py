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
