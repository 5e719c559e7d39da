"""The Starlette application of a hub node: its HTTP side.

WebSocket upgrades never reach it: uvicorn hands them to `endpoints.ws` (see `cli.server_config`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hutch.hub.conversations.service import Refused
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from hutch.hub.web import api, widget
from hutch.hub.web.status import health, info
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# Starlette's own refusals (no such path, a method the path does not take) in the MAX error body.
_ERRORS = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    name = _ERRORS.get(error.status_code, "HTTPError")
    body = Refused(error.status_code, name, str(error.detail)).body()
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


async def server_error(request: Request, error: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    body = Refused(500, "InternalError", "the hub failed to answer this request; it is logged").body()
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
            Route("/info", info),
            *api.routes(),
            *widget.routes(),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.node = node
    return app
