"""Test helpers: build client frames, read server frames, feed a connection three ways."""

from __future__ import annotations

from collections.abc import Callable

from hutch.protocol import Frame, ServerConnection
from hutch.protocol.frames import escape

# Each way of delivering the same bytes must give the same events.
FEEDS = ("whole", "byte_by_byte", "with_trailing_data")
TRAILING = b"SEND\ndestination:/topic/next"  # the start of a frame that has not finished yet


def client_frame(
    command: str, headers: dict[str, str] | None = None, body: bytes = b"", *, escaped: bool = True
) -> bytes:
    lines = [command]
    escaped = escaped and command not in ("CONNECT", "STOMP")  # never escaped, by the spec
    for name, value in (headers or {}).items():
        lines.append(f"{escape(name)}:{escape(value)}" if escaped else f"{name}:{value}")
    return ("\n".join(lines) + "\n\n").encode() + body + b"\x00"


def parse_server_frames(data: bytes) -> list[Frame]:
    """Split server output into frames (heart-beat EOLs become Frame('HEARTBEAT'))."""
    frames: list[Frame] = []
    while data:
        if data[:1] == b"\n":
            frames.append(Frame("HEARTBEAT"))
            data = data[1:]
            continue
        head, _, rest = data.partition(b"\n\n")
        command, *lines = head.decode().split("\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name, value)
        if "content-length" in headers:
            length = int(headers["content-length"])
            body, data = rest[:length], rest[length + 1 :]
        else:
            body, _, data = rest.partition(b"\x00")
        frames.append(Frame(command, headers, body))
    return frames


def feed(conn: ServerConnection, data: bytes, how: str, now: float = 0.0) -> list:
    """Give `data` to the connection whole, one byte at a time, or followed by an unfinished frame."""
    if how == "whole":
        return conn.receive_data(data, now)
    if how == "byte_by_byte":
        events = []
        for i in range(len(data)):
            events.extend(conn.receive_data(data[i : i + 1], now))
        return events
    return conn.receive_data(data + TRAILING, now)


def output(conn: ServerConnection, now: float = 0.0) -> list[Frame]:
    return parse_server_frames(b"".join(conn.data_to_send(now)))


def connected(version: str = "1.2", heart_beat: str = "0,0", **limits: object) -> ServerConnection:
    """A connection past CONNECT/CONNECTED, its output drained."""
    from hutch.protocol import Limits

    conn = ServerConnection(Limits(**limits))  # type: ignore[arg-type]
    conn.receive_data(client_frame("CONNECT", {"accept-version": version, "heart-beat": heart_beat}), 0.0)
    conn.accept("s1", 0.0)
    conn.data_to_send(0.0)
    return conn


Check = Callable[[ServerConnection], None]
