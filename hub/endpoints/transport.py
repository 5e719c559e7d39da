"""What every endpoint does with a connection, whatever carries its bytes.

An endpoint wraps its socket in a `Transport` and calls `serve`: one task reads
and feeds the session, one writes the session's outbox; when either side ends,
the session is closed and the transport with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


LAST_WORDS_SECONDS = 0.5


class Transport(Protocol):
    async def receive(self) -> bytes | None:
        """The next bytes from the client; None once it has gone."""
        ...

    async def send(self, frames: list[bytes]) -> None: ...

    async def close(self) -> None: ...


async def serve(node: HubNode, transport: Transport, peer: str) -> None:
    session = node.open_session(peer)
    writer = asyncio.create_task(session.outbox.run(transport.send))
    reader = asyncio.create_task(_read(session, transport))
    session.abort = writer.cancel
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, writer):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if last_words := session.outbox.take():  # e.g. the ERROR of a slow consumer cut off
            with contextlib.suppress(Exception):
                await asyncio.wait_for(transport.send(last_words), LAST_WORDS_SECONDS)
        await session.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(transport.close(), node.settings.close_timeout)


async def _read(session: object, transport: Transport) -> None:
    while (data := await transport.receive()) is not None:
        await session.receive(data)  # type: ignore[attr-defined]
        await asyncio.sleep(0)  # let writers run between reads, even when data keeps coming
