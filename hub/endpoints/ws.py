"""STOMP over WebSocket at /ws and /stomp, as RabbitMQ Web-STOMP serves it.

Subprotocols v10.stomp, v11.stomp and v12.stomp (the highest offered wins);
text and binary messages in; out, one frame per message, in a text message
unless the frame is not UTF-8 (a binary body), then in a binary one.
"""

from __future__ import annotations

import contextlib

from hutch.hub.endpoints.transport import serve
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")  # best first


class WebSocketTransport:
    def __init__(self, websocket: WebSocket):
        self.websocket = websocket

    async def receive(self) -> bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("bytes") is not None:
            return message["bytes"]
        return (message.get("text") or "").encode()

    async def send(self, frames: list[bytes]) -> None:
        send = self.websocket.send
        for frame in frames:
            try:
                await send({"type": "websocket.send", "text": frame.decode()})
            except UnicodeDecodeError:
                await send({"type": "websocket.send", "bytes": frame})

    async def close(self) -> None:
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the client went first
                await self.websocket.close(1000)


async def stomp_websocket(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    chosen = next((p for p in SUBPROTOCOLS if p in offered), None)
    await websocket.accept(subprotocol=chosen)
    client = websocket.client
    peer = f"ws {client.host}:{client.port}" if client else "ws"
    await serve(websocket.app.state.node, WebSocketTransport(websocket), peer)
