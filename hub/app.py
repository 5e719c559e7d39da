"""The Starlette application of a hub node: its HTTP side.

It serves every capability's REST routes (`<capability>/routes.py`), the status routes and the
browser side. WebSocket upgrades never reach it: uvicorn hands them to `transport.ws` (see `cli.server_config`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hutch.hub import VERSION
from hutch.hub.activity import routes as activity_routes
from hutch.hub.contexts import routes as context_routes
from hutch.hub.conversations import routes as conversation_routes
from hutch.hub.direct import routes as direct_routes
from hutch.hub.errors import Refused
from hutch.hub.node import HubNode
from hutch.hub.notifications import routes as notification_routes
from hutch.hub.people import routes as people_routes
from hutch.hub.presence import routes as presence_routes
from hutch.hub.push import routes as push_routes
from hutch.hub.settings import Settings
from hutch.hub.web import widget
from hutch.hub.web.metrics import metrics
from hutch.hub.web.operations import Operation, routes
from hutch.hub.web.status import health, info
from hutch.hub.websub import routes as websub_routes
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# Every REST operation, in the order the OpenAPI document lists them.
OPERATIONS: list[Operation] = [
    *conversation_routes.OPERATIONS,
    *presence_routes.OPERATIONS,
    *push_routes.OPERATIONS,
    *activity_routes.OPERATIONS,
    *people_routes.OPERATIONS,
    *context_routes.OPERATIONS,
    *notification_routes.OPERATIONS,
    *websub_routes.OPERATIONS,
    *direct_routes.OPERATIONS,
]

# Starlette's own refusals (no such path, a method the path does not take) in the MAX error body.
_ERRORS = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    name = _ERRORS.get(error.status_code, "HTTPError")
    body = Refused(str(error.detail), status=error.status_code, error=name).body()
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


async def server_error(request: Request, error: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    body = Refused(
        "the hub failed to answer this request; it is logged", status=500, error="InternalError"
    ).body()
    return JSONResponse(body, status_code=500)


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
            Route("/metrics", metrics),
            Route("/info", info),
            *routes(OPERATIONS, VERSION),
            *widget.routes(),
            *websub_routes.routes(),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.node = node
    return app
