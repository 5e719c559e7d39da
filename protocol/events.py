"""What a client asked for: the events `ServerConnection.receive_data` returns.

Every event carries the `receipt` the client asked for, if any. The caller sends
that RECEIPT (`ServerConnection.send_receipt`) once it has done the work, so that
a receipt always means "done", in the order the frames came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ConnectRequested:
    """CONNECT or STOMP: answer with `accept()` or `reject()`."""

    login: str | None
    passcode: str | None
    host: str | None
    headers: dict[str, str]
    receipt: str | None = None


@dataclass(slots=True)
class Subscribed:
    id: str
    destination: str
    ack: str  # "auto", "client" or "client-individual"
    headers: dict[str, str]
    receipt: str | None = None


@dataclass(slots=True)
class Unsubscribed:
    """The subscription is gone; `unacked` are the tokens of its messages never ACKed, `handle`
    what the server attached to it (`ServerConnection.attach`)."""

    id: str
    headers: dict[str, str]
    unacked: list[Any] = field(default_factory=list)
    receipt: str | None = None
    handle: Any = None


@dataclass(slots=True)
class SendRequested:
    destination: str
    headers: dict[str, str]
    body: bytes
    receipt: str | None = None


@dataclass(slots=True)
class Acked:
    """The client ACKed: `tokens` are those given to `send_message` for the messages acked."""

    tokens: list[Any]
    receipt: str | None = None


@dataclass(slots=True)
class Nacked:
    tokens: list[Any]
    requeue: bool = True
    receipt: str | None = None


@dataclass(slots=True)
class Committed:
    """COMMIT: the SEND, ACK and NACK events of the transaction, in order."""

    transaction: str
    events: list[SendRequested | Acked | Nacked]
    receipt: str | None = None


@dataclass(slots=True)
class ReceiptRequested:
    """A frame the protocol handled alone (BEGIN, ABORT, a transactional SEND) asked for one."""

    receipt: str | None


@dataclass(slots=True)
class DisconnectRequested:
    """DISCONNECT: send the receipt, if any, then close. Open transactions are aborted."""

    unacked: list[Any] = field(default_factory=list)
    receipt: str | None = None


Event = (
    ConnectRequested
    | Subscribed
    | Unsubscribed
    | SendRequested
    | Acked
    | Nacked
    | Committed
    | ReceiptRequested
    | DisconnectRequested
)
