"""The REST route table: each capability lists its `Operation`s; `routes` serves them and
`openapi_document` describes them, from the same list, so the two cannot drift apart."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hutch.hub.errors import Refused
from hutch.hub.web.openapi import Describes, document
from hutch.hub.web.requests import Handler, endpoint, error_response
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    describes: Describes = field(default_factory=Describes)


def openapi_document(
    operations: list[Operation], version: str, compat_id: str | None = None
) -> dict[str, Any]:
    return document(operations, version, compat_id)


def routes(operations: list[Operation], version: str) -> list[Route]:
    """One route per path, so that a 405 names every method the path takes in `Allow`."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = endpoint(op.handler)
    found = [Route(path, _by_method(handlers), methods=list(handlers)) for path, handlers in by_path.items()]

    @functools.cache
    def described(compat_id: str | None) -> dict[str, Any]:
        return openapi_document(operations, version, compat_id)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(described(request.app.state.node.settings.max_compat_id))

    return [*found, Route("/api/openapi.json", openapi)]


async def _never(request: Request) -> Response:
    return error_response(
        Refused(f"{request.method} is not allowed here", status=405, error="MethodNotAllowed")
    )


def _by_method(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        return await handlers.get(request.method, handlers.get("GET", _never))(request)

    return dispatch
