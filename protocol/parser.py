"""Incremental STOMP frame parser: bytes in, one `Frame` at a time out.

The parser never blocks and never raises anything but `ProtocolError`. It keeps
what it has not used yet, so bytes may arrive whole, one at a time, or with the
start of the next frame behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hutch.protocol.errors import LimitExceeded, ProtocolError, Wording
from hutch.protocol.frames import BODY_COMMANDS, CLIENT_COMMANDS, UNESCAPED_COMMANDS, Frame, unescape


@dataclass(slots=True)
class _Head:
    command: str
    headers: dict[str, str]
    body_start: int
    content_length: int | None
    scanned: int  # how far the body was searched for its NUL


SUPPORTED = "1.0,1.1,1.2"  # the versions, as an ERROR `version` header says them


class FrameParser:
    def __init__(
        self,
        *,
        max_frame_size: int,
        max_headers: int,
        max_header_length: int,
        commands: frozenset[str] = CLIENT_COMMANDS,
    ):
        """`commands` are the frames the peer may send: client frames in a server, server frames in a client."""
        self.commands = commands
        self._commands_as_bytes = tuple(command.encode() for command in commands)
        self._side = "client" if commands is CLIENT_COMMANDS else "server"
        self.max_frame_size = max_frame_size
        self.max_headers = max_headers
        self.max_header_length = max_header_length
        self.escaped = False  # set once the connection knows it speaks 1.1 or 1.2
        self._buffer = bytearray()
        self._head: _Head | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> Frame | None:
        """The next whole frame, or None until more bytes arrive."""
        if self._head is None:
            self._skip_heartbeats()
            if not self._buffer:  # the usual end of a read: everything in it was used
                return None
            self._head = self._parse_head()
            if self._head is None:
                return None
        return self._parse_body(self._head)

    def _skip_heartbeats(self) -> None:
        buffer = self._buffer
        start = 0
        while start < len(buffer):
            if buffer[start] in (0x0A, 0x00):  # an EOL, or a stray NUL between frames
                start += 1
            elif buffer[start] == 0x0D and buffer[start + 1 : start + 2] == b"\n":
                start += 2
            else:
                break
        if start:
            del buffer[:start]

    def _parse_head(self) -> _Head | None:
        buffer = self._buffer
        end = _blank_line(buffer)
        if end is None:
            _check_command_line(buffer, self._commands_as_bytes, self._side)
            if len(buffer) > self.max_frame_size:
                raise LimitExceeded("frame too large", f"no end of headers in {self.max_frame_size} bytes")
            if b"\x00" in buffer:
                raise ProtocolError("malformed frame", "frame ended before its blank line")
            return None
        head_end, body_start = end
        if b"\x00" in buffer[:head_end]:
            raise ProtocolError("malformed frame", "frame ended before its blank line")
        lines = _decode_head(bytes(buffer[:head_end]))
        command = lines[0].removesuffix("\r")
        if command not in self.commands:
            shown = command if len(command) <= 40 else command[:40] + "..."
            raise ProtocolError(
                Wording.BAD_COMMAND,
                f'Could not interpret command "{shown}"\n',
                headers={"version": SUPPORTED},
            )
        if len(lines) - 1 > self.max_headers:
            raise LimitExceeded("too many headers", f"at most {self.max_headers} headers per frame")
        escaped = self.escaped and command not in UNESCAPED_COMMANDS
        long_lines = head_end > self.max_header_length  # else no line can be too long
        headers: dict[str, str] = {}
        for line in lines[1:]:
            line = line.removesuffix("\r")
            if long_lines and len(line.encode()) > self.max_header_length:
                raise LimitExceeded(
                    "header too long", f"a header line is at most {self.max_header_length} bytes"
                )
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError("malformed header", f"header line without ':' in {command}")
            if escaped and "\\" in line:
                name, value = unescape(name), unescape(value)
            headers.setdefault(name, value)  # "only the first header entry SHOULD be used"
        return _Head(command, headers, body_start, _content_length(headers), body_start)

    def _parse_body(self, head: _Head) -> Frame | None:
        buffer = self._buffer
        if head.content_length is not None:
            end = head.body_start + head.content_length
            if end + 1 > self.max_frame_size:
                raise LimitExceeded("frame too large", f"frames are limited to {self.max_frame_size} bytes")
            if len(buffer) <= end:
                return None
            if buffer[end] != 0:
                raise ProtocolError("malformed frame", "no NUL after content-length bytes of body")
        else:
            end = buffer.find(b"\x00", head.scanned)
            if end > self.max_frame_size:
                raise LimitExceeded("frame too large", f"frames are limited to {self.max_frame_size} bytes")
            if end < 0:
                if len(buffer) > self.max_frame_size:
                    raise LimitExceeded(
                        "frame too large", f"frames are limited to {self.max_frame_size} bytes"
                    )
                head.scanned = len(buffer)
                return None
        body = bytes(buffer[head.body_start : end])
        del buffer[: end + 1]
        self._head = None
        if body and head.command not in BODY_COMMANDS:
            if body.strip(b"\r\n"):
                raise ProtocolError("unexpected body", f"{head.command} frames must not have a body")
            body = b""  # a blank line or two after the headers, as hand-written clients send
        return Frame(head.command, head.headers, body)


def _blank_line(buffer: bytearray) -> tuple[int, int] | None:
    """(end of the header lines, start of the body), at the first empty line."""
    lf = buffer.find(b"\n\n")
    # Look for CR LF only before the first LF LF, so a buffer of many frames is read once.
    crlf = buffer.find(b"\n\r\n", 0, len(buffer) if lf < 0 else lf + 1)
    if crlf >= 0:
        return crlf, crlf + 3
    if lf >= 0:
        return lf, lf + 2
    return None


def _check_command_line(buffer: bytearray, commands: tuple[bytes, ...], side: str) -> None:
    """Refuse what cannot become a command early: a TLS hello or an HTTP request, say."""
    newline = buffer.find(b"\n")
    if newline >= 0:
        if bytes(buffer[:newline]).removesuffix(b"\r") in commands:
            return
    else:
        partial = bytes(buffer).removesuffix(b"\r")  # a CR LF may arrive split
        if any(command.startswith(partial) for command in commands):
            return
    line = bytes(buffer[: newline if newline >= 0 else 40]).decode(errors="replace")
    shown = line if len(line) <= 40 else line[:40] + "..."
    raise ProtocolError(
        Wording.BAD_COMMAND, f'Could not interpret command "{shown}"\n', headers={"version": SUPPORTED}
    )


def _decode_head(head: bytes) -> list[str]:
    """The command and header lines; the error says which part is not UTF-8."""
    try:
        return head.decode().split("\n")
    except UnicodeDecodeError:
        _decode(head.partition(b"\n")[0], "command")
        raise ProtocolError("malformed frame", "header is not valid UTF-8") from None


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolError("malformed frame", f"{what} is not valid UTF-8") from None


def _content_length(headers: dict[str, str]) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit() or not raw.isascii():
        raise ProtocolError("bad content-length", f"content-length must be a number of octets, not {raw!r}")
    return int(raw)
