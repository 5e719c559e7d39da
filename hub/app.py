"""The Starlette application of a hub node: its HTTP side.

WebSocket upgrades never reach it: uvicorn hands them to `endpoints.ws` (see `cli.server_config`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hutch.hub.endpoints import api, widget
from hutch.hub.endpoints.http import health, info
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from starlette.applications import Starlette
from starlette.routing import Route


def create_app(settings: Settings | None = None) -> Starlette:
    node = HubNode(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/info", info),
            *api.routes(),
            *widget.routes(),
        ],
        lifespan=lifespan,
    )
    app.state.node = node
    return app
