"""The socket under the AMQP connection, writing what one turn of the event loop wrote in one
system call.

aiormq hands every AMQP command to its writer task on its own, and the writer writes each
with a system call of its own: under load a node sends publishes, acks and their content a
frame at a time. Here the writes of one turn are joined and sent together, in order, at the
end of the turn; `drain` and `close` send what is pending first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

READ_LIMIT = 2**16  # asyncio.open_connection's


class CoalescingWriter(asyncio.StreamWriter):
    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
        loop: asyncio.AbstractEventLoop,
    ):
        super().__init__(transport, protocol, reader, loop)
        self._turns = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._turns.call_soon(self._send)
        self._pending.append(bytes(data))

    def _send(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self.transport.is_closing():
            self.transport.writelines(pending)

    async def drain(self) -> None:
        self._send()
        await super().drain()

    def close(self) -> None:
        self._send()
        super().close()


class CoalescingTransportFactory(TransportFactory):
    """aiormq's plain and TLS transports, with a `CoalescingWriter`."""

    async def create(self, url: URL, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider is not None else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_LIMIT, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, url.host, url.port, ssl=ssl, **kwargs
            )
        except OSError as error:
            raise AMQPConnectionError(*error.args) from error
        return reader, CoalescingWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]
