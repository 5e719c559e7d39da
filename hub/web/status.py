"""GET /health and GET /info."""

from __future__ import annotations

from hutch.hub import VERSION
from hutch.rules import Form, builtin_rule_sets
from starlette.requests import Request
from starlette.responses import JSONResponse


async def health(request: Request) -> JSONResponse:
    """200 when the node can do its work; 503 while its broker or store is away (take it out of
    rotation)."""
    node = request.app.state.node
    broker_up = node.broker_up
    store = await node.store_watch.check()
    up = broker_up and store["store"] == "up"
    body = {
        "status": "ok" if up else "degraded",
        "broker": "up" if broker_up else "down",
        "sessions": len(node.registry.sessions),
        **node.broker.status(),
        **store,
    }
    return JSONResponse(body, status_code=200 if up else 503)


async def info(request: Request) -> JSONResponse:
    node = request.app.state.node
    settings = node.settings
    return JSONResponse(
        {
            "name": "hutch",
            "version": VERSION,
            "dev_mode": settings.dev_mode,
            "broker": node.broker_kind,
            "endpoints": {
                "websocket": ["/ws", "/stomp"],
                "websocket_subprotocols": ["v10.stomp", "v11.stomp", "v12.stomp"],
                "stomp_tcp_port": node.tcp_port,
            },
            "rule_sets": sorted(builtin_rule_sets()),
            "forms": [form.value for form in Form],
        }
    )
