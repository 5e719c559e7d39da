"""STOMP 1.0, 1.1 and 1.2 for servers, without I/O.

`ServerConnection` takes the bytes a client sent and returns events; the caller
answers through its methods and sends the bytes it hands back. Nothing here
imports asyncio or touches a socket.
"""

from hutch.protocol.connection import Limits, ServerConnection, State
from hutch.protocol.errors import LimitExceeded, ProtocolError, StompError, Wording
from hutch.protocol.events import (
    Acked,
    Committed,
    ConnectRequested,
    DisconnectRequested,
    Event,
    Nacked,
    ReceiptRequested,
    SendRequested,
    Subscribed,
    Unsubscribed,
)
from hutch.protocol.frames import Frame, OutgoingMessage, whole_number

__all__ = [
    "Acked",
    "Committed",
    "ConnectRequested",
    "DisconnectRequested",
    "Event",
    "Frame",
    "LimitExceeded",
    "Limits",
    "Nacked",
    "OutgoingMessage",
    "ProtocolError",
    "ReceiptRequested",
    "SendRequested",
    "ServerConnection",
    "State",
    "StompError",
    "Subscribed",
    "Unsubscribed",
    "Wording",
    "whole_number",
]
