"""STOMP over WebSocket at /ws and /stomp, as RabbitMQ Web-STOMP serves it.

uvicorn hands every WebSocket upgrade to `StompWebSocket`, an asyncio protocol
on websockets' sans-I/O layer: the WebSocket carries STOMP bytes straight to and
from the connection's session, with no ASGI messages, queues or tasks between.

Subprotocols v10.stomp, v11.stomp and v12.stomp (the highest offered wins);
text and binary messages in. Out, frames in a text message unless a frame is not
UTF-8 (a binary body), then in a binary one of its own. Frames that are queued
together go out together, up to BATCH_BYTES per WebSocket message: STOMP clients
read frames from a stream (a frame ends at its NUL), and one message for many
frames saves most of the per-message cost of a burst.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from hutch.hub.transport.link import Endpoint, Link
from hutch.protocol import LimitExceeded
from websockets.exceptions import PayloadTooBig
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    import uvicorn
    from hutch.hub.node import HubNode

PATHS = ("/ws", "/stomp")
SUBPROTOCOLS = [Subprotocol("v12.stomp"), Subprotocol("v11.stomp"), Subprotocol("v10.stomp")]  # best first
BATCH_BYTES = 64 * 1024  # well under the 1 MiB a client library takes by default
GOING_AWAY = 1001
TEXT, BINARY = 0x80 | Opcode.TEXT, 0x80 | Opcode.BINARY  # FIN set: never fragmented


def _best_offered(_: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Web-STOMP accepts a client that offers no subprotocol; so does hutch.
    return next((p for p in SUBPROTOCOLS if p in offered), None)


def _is_text(frame: bytes) -> bool:
    if frame.isascii():
        return True
    try:
        frame.decode()
    except UnicodeDecodeError:
        return False
    return True


def _messages(frames: list[bytes]) -> Iterator[tuple[bool, list[bytes], int]]:
    """(is text, frames, bytes) per WebSocket message: text frames together, binary alone."""
    batch: list[bytes] = []
    size = 0
    for frame in frames:
        if not _is_text(frame):
            if batch:
                yield True, batch, size
                batch, size = [], 0
            yield False, [frame], len(frame)
            continue
        if batch and size + len(frame) > BATCH_BYTES:
            yield True, batch, size
            batch, size = [], 0
        batch.append(frame)
        size += len(frame)
    if batch:
        yield True, batch, size


_SHORT, _MEDIUM, _LONG = struct.Struct("!BB").pack, struct.Struct("!BBH").pack, struct.Struct("!BBQ").pack


def _header(first_byte: int, size: int) -> bytes:
    """A final, unmasked frame's header (RFC 6455 5.2): the server never masks."""
    if size < 126:
        return _SHORT(first_byte, size)
    if size < 1 << 16:
        return _MEDIUM(first_byte, 126, size)
    return _LONG(first_byte, 127, size)


class StompWebSocket(Endpoint):
    def __init__(self, node: HubNode, config: uvicorn.Config, server_state: Any, **_: Any):
        self.node = node
        self.connections: set[Any] = server_state.connections  # uvicorn closes these on shutdown
        extensions = [ServerPerMessageDeflateFactory()] if config.ws_per_message_deflate else []
        self.ws = ServerProtocol(
            subprotocols=SUBPROTOCOLS,
            select_subprotocol=_best_offered,
            extensions=extensions,
            max_size=config.ws_max_size,
        )
        self._fragments: list[bytes] = []
        self.max_size = config.ws_max_size
        self._refused_too_big = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        # uvicorn's HTTP protocol that read the upgrade and its parser point at each other: left
        # so, only the cyclic collector frees them, and hundreds of them make a young collection
        # stall every connection for tens of ms. Without the parser, they go at once.
        upgraded = transport.get_protocol()
        if hasattr(upgraded, "parser"):
            upgraded.parser = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        if isinstance(self.ws.parser_exc, PayloadTooBig) and self.link is not None:
            self._too_big(self.link)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._fragments.append(event.data)
                if event.fin:
                    message = b"".join(self._fragments)
                    self._fragments = []
                    if self.link is not None:
                        self.link.received(message)
            # PING and CLOSE: websockets has queued the PONG or the closing reply itself
        self._send_pending()

    def _too_big(self, link: Link) -> None:
        """websockets refused a message over the size limit and queued its close (1009): the
        client gets STOMP's ERROR first, written ahead of the close."""
        if self._refused_too_big:
            return
        self._refused_too_big = True
        limit = self.max_size
        error = LimitExceeded("frame too large", f"a WebSocket message is at most {limit} bytes")
        for frame in link.session.last_words(error):
            self.transport.write(_header(TEXT, len(frame)) + frame)

    def _handshake(self, request: Request) -> None:
        if request.path.partition("?")[0] in PATHS:
            response = self.ws.accept(request)
        else:
            response = self.ws.reject(404, "hutch serves STOMP over WebSocket at /ws and /stomp\n")
        self.ws.send_response(response)
        if response.status_code == 101:
            host, port = self.transport.get_extra_info("peername") or ("?", 0)
            self.link = Link(self.node, self, f"ws {host}:{port}")

    def _send_pending(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self._refused_too_big and self.transport.can_write_eof():
                # The client is still sending the message it was refused: closing now would
                # answer with a reset that may lose the ERROR. Half-close, and read (to
                # nothing) a moment longer.
                self.transport.write_eof()
                asyncio.get_running_loop().call_later(1.0, self.transport.close)
            else:  # websockets' end of stream: the server closes the TCP connection
                self.transport.close()

    def write(self, frames: list[bytes]) -> None:
        if self.ws.state is not State.OPEN:
            return
        if self.ws.extensions:  # compressed: websockets builds the frames
            for text, batch, _ in _messages(frames):
                payload = b"".join(batch)
                self.ws.send_text(payload) if text else self.ws.send_binary(payload)
            self._send_pending()
            return
        # Uncompressed, a server frame is a header and the payload as it is: built here, all
        # messages in one write, it costs a fraction of websockets' general framing.
        if len(frames) == 1:  # the most common case, a fan-out's single MESSAGE
            frame = frames[0]
            self.transport.write(_header(TEXT if _is_text(frame) else BINARY, len(frame)) + frame)
            return
        pieces: list[bytes] = []
        for text, batch, size in _messages(frames):
            pieces.append(_header(TEXT if text else BINARY, size))
            pieces.extend(batch)
        self.transport.write(b"".join(pieces))

    def close(self) -> None:
        """Start the closing handshake; the client's reply (or the session's timeout) ends it."""
        if self.ws.state is State.OPEN:
            self.ws.send_close(1000)
            self._send_pending()

    def shutdown(self) -> None:
        """uvicorn is stopping: clients still connected after the drain are told so."""
        if self.ws.state is State.OPEN:
            self.ws.send_close(GOING_AWAY, "the hub is shutting down")
            self._send_pending()
        self.transport.close()


def websocket_protocol(node: HubNode) -> Any:
    """What uvicorn's `ws` setting takes: a factory of this node's WebSocket protocols."""
    return functools.partial(StompWebSocket, node)
