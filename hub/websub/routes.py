"""The WebSub endpoints, open to the world as the standard has them (no token): the hub at
`POST /websub`, answered in plain text, and the public contexts' feeds with discovery links."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.contexts.routes import hash_of
from hutch.hub.errors import Invalid, NotFound
from hutch.hub.web.openapi import Describes, obj
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import body_of, is_web_url, text_field
from hutch.hub.websub.feeds import KINDS, topic_url
from hutch.hub.websub.follower import MAX_FEED, FeedUnreadable
from hutch.hub.websub.hub import BadRequest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

MAX_FORM = 16 * 1024  # bytes of a request to the hub
log = logging.getLogger(__name__)


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


async def callback(request: Request) -> Response:
    """Our own subscriptions to external hubs: their verifications, then their deliveries."""
    follower = request.app.state.node.follower
    follow = await follower.store.follow(request.path_params["id"][:32])
    if request.method == "GET":
        echo = follower.challenge(follow, dict(request.query_params))
        return PlainTextResponse(echo) if echo else PlainTextResponse("not ours", status_code=404)
    if follow is None:
        return Response(status_code=410)  # unfollowed: the hub may drop the subscription
    body = await request.body()
    if len(body) > MAX_FEED:
        return PlainTextResponse("too large", status_code=413)
    if not await follower.delivered(follow, body, request.headers.get("x-hub-signature", "")):
        log.warning("a delivery for %s had no valid signature: ignored", follow.url)
    return Response(status_code=204)  # a bad signature is ignored, as WebSub has it, not refused


def routes() -> list[BaseRoute]:
    return [
        Route("/websub", hub_endpoint, methods=["POST"]),
        Route("/websub/callback/{id:str}", callback, methods=["GET", "POST"]),
        Route("/websub/contexts/{hash:str}.{kind:str}", context_feed, methods=["GET", "HEAD"]),
    ]


# -- a context's followed feeds (REST, the context's owner or an admin) -----------------


async def follow_feed(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    url = text_field(await body_of(request), "url")
    if len(url) > 2048 or not is_web_url(url):
        raise Invalid("'url' is the http(s) URL of an Atom or RSS feed")
    try:
        follow = await node.follower.follow(context.hash, url, identity.user)
    except FeedUnreadable as error:
        raise Invalid(f"that feed cannot be followed: {error}") from None
    return JSONResponse(follow.to_json(), status_code=201)


async def list_follows(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    follows = [f for f in await node.follower.store.follows() if f.context == context.hash]
    return JSONResponse([f.to_json() for f in sorted(follows, key=lambda f: f.url)])


async def unfollow_feed(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    follow = await node.follower.store.follow(request.path_params["follow"][:32])
    if follow is None or follow.context != context.hash:
        raise NotFound("this context follows no such feed")
    await node.follower.store.unfollow(follow.id)
    return Response(status_code=204)


FOLLOW = obj(
    ["id", "context", "url", "hub", "by"],
    {
        "id": {"type": "string"},
        "context": {"type": "string"},
        "url": {"type": "string"},
        "hub": {"type": ["string", "null"], "description": "the feed's WebSub hub; none: polled"},
        "by": {"type": "string"},
    },
)
OPERATIONS = [
    Operation(
        "POST", "/api/contexts/{hash}/follows", follow_feed,
        "Follow an external Atom or RSS feed: its entries become posts (owner or admin)",
        Describes(201, FOLLOW, obj(["url"], {"url": {"type": "string"}}), errors=(400, 401, 403, 404)),
    ),
    Operation(
        "GET", "/api/contexts/{hash}/follows", list_follows, "The feeds a context follows (owner or admin)",
        Describes(response={"type": "array", "items": FOLLOW}, errors=(401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}/follows/{follow}", unfollow_feed, "Stop following a feed (owner or admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
]  # fmt: skip
