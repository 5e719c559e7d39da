"""A session on a socket: what every endpoint does with a connection.

An endpoint is an asyncio protocol (`Endpoint`) that turns its socket's bytes into
STOMP bytes: a WebSocket unwraps messages, TCP passes them through. It hands the
link what the client sent and the socket's flow control; the link writes the
session's frames through the endpoint and tells it when to close.

Nothing waits on an idle connection: a task runs only while received bytes are
being handled, and frames are written a loop pass or two after they were queued,
all that was queued meanwhile in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

log = logging.getLogger(__name__)

INBOX_BYTES = 64 * 1024  # received and not yet handled before the socket is not read from; a slice

_ending: set[asyncio.Task[None]] = set()  # links closing their sessions: kept from the GC


class Endpoint(asyncio.Protocol):
    """An asyncio protocol serving one STOMP client through a `Link`."""

    transport: asyncio.Transport
    link: Link | None = None

    def write(self, frames: list[bytes]) -> None:
        """Write STOMP frames, in order."""
        raise NotImplementedError

    def close(self) -> None:
        """The last frames are written: end the connection politely."""
        self.transport.close()

    def abort(self) -> None:
        """Drop the connection now (a client that does not take its last frames)."""
        self.transport.abort()

    def pause_writing(self) -> None:
        if self.link is not None:
            self.link.writable(False)

    def resume_writing(self) -> None:
        if self.link is not None:
            self.link.writable(True)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.lost()


class Link:
    __slots__ = (
        "_closed",
        "_context",
        "_flush_due",
        "_flusher",
        "_gone",
        "_inbox",
        "_inbox_bytes",
        "_loop",
        "_reader",
        "_reading",
        "_room",
        "_writable",
        "endpoint",
        "session",
    )

    def __init__(self, node: HubNode, endpoint: Endpoint, peer: str):
        self.endpoint = endpoint
        self._loop = asyncio.get_running_loop()
        self._inbox: deque[bytes] = deque()
        self._inbox_bytes = 0
        self._room: asyncio.Future[None] | None = None  # the reader waits here while the socket is full
        self._reader: asyncio.Task[None] | None = None
        # The reader tasks, one after the other, share one context: what the session sets in
        # it (its connection and user, for the logs) holds for all it handles.
        self._context = contextvars.Context()
        self._flush_due = False
        self._flusher = _flusher(self._loop)
        self._writable = True
        self._reading = True
        self._closed = False
        self._gone = False
        self.session = node.open_session(peer, on_ready=self._flush_soon, abort=endpoint.abort)

    # -- in ------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """Bytes from the client, handled in order (a SEND's receipt waits for the broker)."""
        if self._gone:
            return
        self._inbox.append(data)
        self._inbox_bytes += len(data)
        if self._reader is None:
            self._reader = self._loop.create_task(self._read(), context=self._context)
        self._pace_reading()

    def _pace_reading(self) -> None:
        """Read from the client only while it is served: its input handled, its output taken.

        A client that sends faster than the hub handles, or that does not read what its own
        sending makes for it, waits at its socket instead of growing the hub's buffers.
        """
        read = self._writable and self._inbox_bytes < INBOX_BYTES
        if read != self._reading:
            self._reading = read
            transport = self.endpoint.transport
            transport.resume_reading() if read else transport.pause_reading()

    async def _read(self) -> None:
        try:
            while self._inbox:
                data = self._inbox.popleft()
                pieces = _pieces(data)
                for index, piece in enumerate(pieces):
                    if not self._writable:  # its own output waits: handle nothing more until taken
                        self._room = self._loop.create_future()
                        await self._room
                    await self.session.receive(piece)
                    if self._inbox or index + 1 < len(pieces):
                        await asyncio.sleep(0)  # let what that queued be written before more is handled
                self._inbox_bytes -= len(data)
                self._pace_reading()
        finally:
            self._reader = None

    # -- out -----------------------------------------------------------------

    def writable(self, writable: bool) -> None:
        """The socket's buffer is full (False) or has room again (True)."""
        self._writable = writable
        if self._gone:
            return
        self._pace_reading()
        if writable:
            if self._room is not None and not self._room.done():
                self._room.set_result(None)
            self._room = None
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flush_due or self._gone:
            return
        # A full socket takes nothing more until it has room, but for the last frames
        # (a slow consumer's ERROR): the outbox grows meanwhile, up to its limit.
        if self._writable or self.session.outbox.closing:
            self._flush_due = True
            self._flusher.add(self)

    def flush(self) -> None:
        """Write all the session queued since the last pass, in one write."""
        self._flush_due = False
        if self._gone or self._closed:
            return
        outbox = self.session.outbox
        if frames := outbox.take():
            self.endpoint.write(frames)
        if outbox.finished:
            self._closed = True
            self.endpoint.close()

    # -- end -----------------------------------------------------------------

    def lost(self) -> None:
        """The socket is gone: stop handling input, release the session's subscriptions."""
        if self._gone:
            return
        self._gone = True
        task = self._loop.create_task(self._end())
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    async def _end(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        try:
            await self.session.close()
        except Exception as error:  # the broker went too (a node shutting down): nothing to release
            log.info("session %s: closing after its connection was lost failed: %r", self.session.id, error)


class _Flusher:
    """Writes the links with frames waiting, all from one callback.

    A fan-out makes many links ready at once: one scheduled callback for all of them
    costs less than one each. It runs a loop pass late, so that what that pass adds
    for the same clients (a worker's stored acks, more clients' messages) shares
    the write: under load a write then carries several frames.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.due: list[Link] = []

    def add(self, link: Link) -> None:
        if not self.due:
            self.loop.call_soon(self.loop.call_soon, self.run)
        self.due.append(link)

    def run(self) -> None:
        due, self.due = self.due, []
        for link in due:
            try:
                link.flush()
            except Exception:  # one broken socket must not keep the others from being written
                log.exception("writing to %s failed", link.session.peer)


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


def _pieces(data: bytes) -> list[bytes]:
    """What one receive hands the session: at most INBOX_BYTES, so writes come in between."""
    if len(data) <= INBOX_BYTES:
        return [data]
    return [data[start : start + INBOX_BYTES] for start in range(0, len(data), INBOX_BYTES)]
