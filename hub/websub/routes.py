"""The WebSub endpoints, open to the world as the standard has them (no token): the hub at
`POST /websub`, answered in plain text, and the public contexts' feeds with discovery links."""

from __future__ import annotations

from hutch.hub.websub.feeds import KINDS, topic_url
from hutch.hub.websub.hub import BadRequest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

MAX_FORM = 16 * 1024  # bytes of a request to the hub


async def hub_endpoint(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return PlainTextResponse("a WebSub request is application/x-www-form-urlencoded", status_code=400)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > MAX_FORM:
        return PlainTextResponse(
            f"a WebSub request says its length, at most {MAX_FORM} bytes", status_code=413
        )
    form = await request.form(max_files=0, max_fields=50)
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        await request.app.state.node.websub.request(fields)
    except BadRequest as refused:
        return PlainTextResponse(str(refused), status_code=400)
    return PlainTextResponse("Accepted: the subscriber's intent is verified next", status_code=202)


async def context_feed(request: Request) -> Response:
    node = request.app.state.node
    hash, kind = request.path_params["hash"], request.path_params["kind"]
    found = await node.context_feeds.feed(hash, kind) if kind in KINDS else None
    if found is None:
        return PlainTextResponse("no public feed here", status_code=404)
    content, content_type = found
    base = node.context_feeds.base_url
    link = f'<{base}/websub>; rel="hub", <{topic_url(base, hash, kind)}>; rel="self"'
    return Response(content, media_type=content_type, headers={"Link": link})


def routes() -> list[BaseRoute]:
    return [
        Route("/websub", hub_endpoint, methods=["POST"]),
        Route("/websub/contexts/{hash:str}.{kind:str}", context_feed, methods=["GET", "HEAD"]),
    ]
