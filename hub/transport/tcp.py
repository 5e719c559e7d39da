"""Plain STOMP over TCP (port 61613 by convention), on the same sessions as WebSocket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hutch.hub.transport.link import Endpoint, Link

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


class StompTcp(Endpoint):
    def __init__(self, node: HubNode):
        self.node = node

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername") or ("?", 0)
        self.link = Link(self.node, self, f"tcp {host}:{port}")

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        self.link.received(data)

    def write(self, frames: list[bytes]) -> None:
        self.transport.write(b"".join(frames))


async def start_tcp_listener(node: HubNode, host: str, port: int) -> asyncio.Server:
    return await asyncio.get_running_loop().create_server(lambda: StompTcp(node), host, port)
