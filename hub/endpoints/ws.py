"""STOMP over WebSocket at /ws and /stomp, as RabbitMQ Web-STOMP serves it.

Subprotocols v10.stomp, v11.stomp and v12.stomp (the highest offered wins);
text and binary messages in. Out, frames in a text message unless a frame is not
UTF-8 (a binary body), then in a binary one of its own. Frames that are queued
together go out together, up to BATCH_BYTES per WebSocket message: STOMP clients
read frames from a stream (a frame ends at its NUL), and one message for many
frames saves most of the per-message cost of a burst.
"""

from __future__ import annotations

import contextlib

from hutch.hub.endpoints.transport import serve
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")  # best first
BATCH_BYTES = 64 * 1024  # well under the 1 MiB a client library takes by default


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
        batch: list[str] = []
        size = 0
        for frame in frames:
            try:
                text = frame.decode()
            except UnicodeDecodeError:
                if batch:
                    await send({"type": "websocket.send", "text": "".join(batch)})
                    batch, size = [], 0
                await send({"type": "websocket.send", "bytes": frame})
                continue
            if batch and size + len(frame) > BATCH_BYTES:
                await send({"type": "websocket.send", "text": "".join(batch)})
                batch, size = [], 0
            batch.append(text)
            size += len(frame)
        if batch:
            await send({"type": "websocket.send", "text": "".join(batch)})

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
