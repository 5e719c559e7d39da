"""Plain STOMP over TCP (port 61613 by convention), on the same sessions as WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from hutch.hub.endpoints.transport import serve

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


class StreamTransport:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def receive(self) -> bytes | None:
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            return None
        return data or None

    async def send(self, frames: list[bytes]) -> None:
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def start_tcp_listener(node: HubNode, host: str, port: int) -> asyncio.Server:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host_port = writer.get_extra_info("peername") or ("?", 0)
        await serve(node, StreamTransport(reader, writer), f"tcp {host_port[0]}:{host_port[1]}")

    return await asyncio.start_server(on_connection, host, port)
