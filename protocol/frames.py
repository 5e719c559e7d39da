"""STOMP frames: header escaping, serialization, and messages serialized once.

A frame is a command line, header lines, a blank line, the body and a NUL
(STOMP 1.2 "Augmented BNF"). Header names and values are escaped in every frame
but CONNECT and CONNECTED, and only from STOMP 1.1 on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hutch.protocol.errors import ProtocolError

CLIENT_COMMANDS = frozenset(
    {
        "CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE",
        "BEGIN", "COMMIT", "ABORT", "ACK", "NACK", "DISCONNECT",
    }
)  # fmt: skip
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})
BODY_COMMANDS = frozenset(
    {"SEND", "MESSAGE", "ERROR"}
)  # "only the SEND, MESSAGE, and ERROR frames MAY have a body"

_ESCAPES = {ord("r"): "\r", ord("n"): "\n", ord("c"): ":", ord("\\"): "\\"}
_ESCAPE_TABLE = str.maketrans({"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"})


@dataclass(slots=True)
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def escape(text: str) -> str:
    # Most header values need no escape; looking costs a fraction of translating.
    if "\\" in text or ":" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPE_TABLE)
    return text


def unescape(raw: str) -> str:
    r"""Decode `\r \n \c \\`; "Undefined escape sequences such as \t MUST be treated as a fatal protocol error"."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        decoded = _ESCAPES.get(ord(following)) if following else None
        if decoded is None:
            raise ProtocolError(
                "bad header escape",
                f"'\\{following}' is not a STOMP escape; use \\r \\n \\c or \\\\",
            )
        out.append(decoded)
    return "".join(out)


_HEARTBEAT = re.compile(r"\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*", re.ASCII)


def parse_heartbeat(value: str) -> tuple[int, int]:
    """The two numbers of a `heart-beat` header (ms); ProtocolError unless two ASCII numbers
    (int() would also take other scripts' digits)."""
    match = _HEARTBEAT.fullmatch(value)
    if match is None:
        raise ProtocolError("bad heart-beat", f"heart-beat must be two numbers 'cx,cy', not '{value[:50]}'")
    return int(match[1]), int(match[2])


_WHOLE = re.compile(r"[0-9]{1,20}")


def whole_number(text: str, most: int) -> int | None:
    """A header's whole number from 0 to `most`, or None: ASCII digits only (int() would also
    take '²', '1_0' and other scripts' digits)."""
    if not _WHOLE.fullmatch(text):
        return None
    number = int(text)
    return number if number <= most else None


def serialize(frame: Frame, *, escaped: bool = True) -> bytes:
    """Bytes of a server frame; a body always gets its `content-length`."""
    escaped = escaped and frame.command not in UNESCAPED_COMMANDS
    with_length = bool(frame.body) or frame.command == "ERROR"
    return _encode(frame.command, frame.headers.items(), escaped, frame.body, with_length)


def _encode(
    command: str,
    headers: Iterable[tuple[str, str]],
    escaped: bool,
    body: bytes,
    with_length: bool,
) -> bytes:
    lines = [command]
    for name, value in headers:
        if escaped:
            lines.append(f"{escape(name)}:{escape(value)}")
        else:  # STOMP 1.0 has no escapes: a line break would end the header
            lines.append(f"{name}:{value}".replace("\n", " ").replace("\r", " "))
    if with_length:
        lines.append(f"content-length:{len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body + b"\x00"


# Headers that differ per recipient, or that the hub sets itself.
_PER_DELIVERY = frozenset(
    {"subscription", "message-id", "ack", "redelivered", "content-length", "destination"}
)


class OutgoingMessage:
    """A MESSAGE serialized once for all its recipients.

    Only `subscription`, `message-id`, `ack` and `redelivered` differ between the
    recipients of one message; everything after them (the shared headers and the
    body) is built once per escaping style and reused for every copy.
    """

    __slots__ = ("_tails", "_text", "body", "destination", "headers")

    def __init__(self, destination: str, headers: Mapping[str, str], body: bytes):
        self.destination = destination
        self.headers = {k: v for k, v in headers.items() if k not in _PER_DELIVERY}
        self.body = body
        self._tails: dict[bool, bytes] = {}
        self._text: bool | None = None

    @property
    def is_text(self) -> bool:
        """True when the body is UTF-8, so it can travel in a WebSocket text frame."""
        if self._text is None:
            try:
                self.body.decode()
                self._text = True
            except UnicodeDecodeError:
                self._text = False
        return self._text

    def tail(self, escaped: bool) -> bytes:
        tail = self._tails.get(escaped)
        if tail is None:
            headers = [("destination", self.destination), *self.headers.items()]
            full = _encode("", headers, escaped, self.body, with_length=True)
            tail = self._tails[escaped] = full[1:]  # drop the empty command's line break
        return tail
