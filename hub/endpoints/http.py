"""GET /health and GET /info."""

from __future__ import annotations

from hutch.hub.node import VERSION
from starlette.requests import Request
from starlette.responses import JSONResponse


async def health(request: Request) -> JSONResponse:
    node = request.app.state.node
    return JSONResponse(
        {"status": "ok", "node": node.settings.node_id, "sessions": len(node.registry.sessions)}
    )


async def info(request: Request) -> JSONResponse:
    node = request.app.state.node
    settings = node.settings
    return JSONResponse(
        {
            "name": "hutch",
            "version": VERSION,
            "node": settings.node_id,
            "dev_mode": settings.dev_mode,
            "broker": node.broker_kind,
            "endpoints": {
                "websocket": ["/ws", "/stomp"],
                "websocket_subprotocols": ["v10.stomp", "v11.stomp", "v12.stomp"],
                "stomp_tcp_port": node.tcp_port,
            },
            "rule_sets": [],
        }
    )
