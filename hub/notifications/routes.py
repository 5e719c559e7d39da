"""The feed's REST routes: `/api/notifications` for the signed-in user, and the seed's service
API for backends (`/v1/notifications/{user}`, `/v1/rules`), admins only.

Pages come newest first, rolled up, as the seed's service answers them: a `Range: id
]<last>..; max=N` header (default 20, at most 1,000), `Next-Range` when more wait, or
`?before=<id>&limit=N` with a `Link` to the next page.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hutch.hub.auth import Identity
from hutch.hub.errors import Forbidden, Invalid, NotFound
from hutch.hub.notifications import ranges
from hutch.hub.notifications.model import MAX_CATEGORY
from hutch.hub.notifications.rollups import Rule
from hutch.hub.notifications.service import check
from hutch.hub.web.openapi import Describes, array_of, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import body_of, json_of, limit_of
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

_ID = re.compile(r"[0-9A-Za-z]{27}")
MAX_IDS = 1000


# -- the signed-in user -------------------------------------------------------------


async def my_notifications(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _page(request, node, identity.user)


async def delete_mine(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _delete(request, node, identity.user)


async def unseen(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse({"unseen": await node.feeds.store.unseen(identity.user)})


async def get_preferences(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse({"muted": await node.feeds.store.muted(identity.user)})


async def put_preferences(request: Request, identity: Identity, node: HubNode) -> Response:
    muted = (await body_of(request)).get("muted")
    if not isinstance(muted, list) or len(muted) > 100 or not all(_is_category(c) for c in muted):
        raise Invalid(f"'muted' is a list of at most 100 categories of 1 to {MAX_CATEGORY} characters")
    await node.feeds.store.mute(identity.user, muted)
    return JSONResponse({"muted": await node.feeds.store.muted(identity.user)})


# -- the service API (admins) --------------------------------------------------------


def _backend(request: Request, identity: Identity) -> str:
    if not identity.is_admin:
        raise Forbidden("the notification service API is for admins (backends)")
    return names.check_user(request.path_params["user"])


async def post_notification(request: Request, identity: Identity, node: HubNode) -> Response:
    user = _backend(request, identity)
    body = await body_of(request)
    category, message, properties = body.get("category"), body.get("message"), body.get("properties", {})
    check(category, message, properties)
    notification = await node.feeds.notify(user, category, message, properties)
    location = {
        "Location": f"/v1/notifications/{quote(user, safe='')}"
    }  # a header is Latin-1: any script goes encoded
    return JSONResponse(notification.to_json(unseen=True), status_code=201, headers=location)


async def user_notifications(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _page(request, node, _backend(request, identity))


async def delete_users(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _delete(request, node, _backend(request, identity))


async def list_rules(request: Request, identity: Identity, node: HubNode) -> Response:
    if not identity.is_admin:
        raise Forbidden("rules are for admins")
    return JSONResponse({category: rule.to_json() for category, rule in (await node.feeds.rules()).items()})


async def put_rule(request: Request, identity: Identity, node: HubNode) -> Response:
    category = _rule_category(request, identity)
    await node.feeds.store.put_rule(category, Rule.from_json(await json_of(request)))
    return Response(status_code=204)


async def delete_rule(request: Request, identity: Identity, node: HubNode) -> Response:
    category = _rule_category(request, identity)
    if not await node.feeds.store.delete_rule(category):
        raise NotFound(f"no rule is stored for category '{category}' (the hub's default, if any, applies)")
    return Response(status_code=204)


def _rule_category(request: Request, identity: Identity) -> str:
    if not identity.is_admin:
        raise Forbidden("rules are for admins")
    category = request.path_params["category"]
    if not _is_category(category):
        raise Invalid(f"a category is 1 to {MAX_CATEGORY} characters")
    return category


# -- shared -----------------------------------------------------------------------------


def _is_category(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_CATEGORY


async def _page(request: Request, node: HubNode, user: str) -> Response:
    query = request.query_params
    if "before" in query or "limit" in query:
        wanted = ranges.before(query.get("before"), limit_of(request, ranges.DEFAULT_MAX, ranges.MOST))
    else:
        wanted = ranges.parse(request.headers.get("range"))
    page = await node.feeds.page(user, wanted)
    headers = {"Accept-Ranges": "id", "Cache-Control": "no-store"}
    if page.entries:
        headers["Content-Range"] = f"id {page.entries[0].first.id}..{page.entries[-1].first.id}"
    if page.full and page.last is not None:
        headers["Next-Range"] = wanted.next(page.last.id)
        headers["Link"] = f'<{request.url.path}?before={page.last.id}&limit={wanted.max}>; rel="next"'
    return JSONResponse([entry.to_json() for entry in page.entries], headers=headers)


async def _delete(request: Request, node: HubNode, user: str) -> Response:
    raw = request.query_params.get("ids")
    if raw is None:
        await node.feeds.store.clear(user)
        return Response(status_code=204)
    ids = [i for i in raw.split(",") if i]
    if len(ids) > MAX_IDS or not all(_ID.fullmatch(i) for i in ids):
        raise Invalid(f"'ids' is a comma-separated list of at most {MAX_IDS} notification ids")
    await node.feeds.store.delete(user, ids)
    return Response(status_code=204)


ENTRIES = array_of("Notification")
RANGE = (
    "Range",
    {
        "type": "string",
        "pattern": r"^id(\s+\]?([0-9A-Za-z]{27})?\.\.([0-9A-Za-z]{27})?\[?)?\s*(;\s*max=[1-9][0-9]{0,8}\s*)?$",
        "description": "id [<id>]..[<id>]; max=N",
    },
    False,
)
PAGING = (
    ("before", {"type": "string", "pattern": "^[0-9A-Za-z]{27}$"}, False),
    (
        "limit",
        {"type": "integer", "minimum": 1, "maximum": ranges.MOST, "default": ranges.DEFAULT_MAX},
        False,
    ),
)
IDS = (
    (
        "ids",
        {
            "type": "string",
            "pattern": "^([0-9A-Za-z]{27}(,[0-9A-Za-z]{27}){0,999})?$",
            "description": "comma-separated ids; none: every one",
        },
        False,
    ),
)
NEW_NOTIFICATION = {
    "type": "object",
    "required": ["category", "message"],
    "properties": {
        "category": {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY},
        "message": {"type": "string", "minLength": 1, "maxLength": 1000},
        "properties": {
            "type": "object",
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 1000},
            "maxProperties": 20,
        },
    },
}
RULE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_size": {"type": "integer", "minimum": 1, "maximum": 1000},
        "max_duration": {
            "type": "string",
            "pattern": "^[0-9]{1,9} ?(seconds?|minutes?|hours?|days?|[smhd])$",
            "examples": ["12 hours"],
        },
        "match_on": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}
CATEGORY = {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY}
MUTED = {
    "type": "object",
    "required": ["muted"],
    "properties": {"muted": {"type": "array", "items": CATEGORY, "maxItems": 100}},
}

OPERATIONS = [
    Operation(
        "GET", "/api/notifications", my_notifications,
        "My notifications, newest first, rolled up; a first page marks them seen (Range or ?before=&limit=)",
        Describes(response=ENTRIES, query=PAGING, headers=(RANGE,), errors=(400, 401, 416)),
    ),
    Operation(
        "DELETE", "/api/notifications", delete_mine, "Delete some (?ids=a,b) or all of my notifications",
        Describes(204, query=IDS, errors=(400, 401)),
    ),
    Operation(
        "GET", "/api/notifications/unseen", unseen, "How many of my notifications are unseen (the cursor stays)",
        Describes(response=ref("Unseen"), errors=(401,)),
    ),
    Operation(
        "GET", "/api/notifications/preferences", get_preferences, "The categories I am not pushed for",
        Describes(response=MUTED, errors=(401,)),
    ),
    Operation(
        "PUT", "/api/notifications/preferences", put_preferences, "Choose the categories I am not pushed for",
        Describes(response=MUTED, request=MUTED, errors=(400, 401)),
    ),
    Operation(
        "POST", "/v1/notifications/{user}", post_notification, "Notify a user (admins: backends)",
        Describes(201, ref("Notification"), NEW_NOTIFICATION, errors=(400, 401, 403)),
    ),
    Operation(
        "GET", "/v1/notifications/{user}", user_notifications, "A user's notifications, as /api/notifications (admins)",
        Describes(response=ENTRIES, query=PAGING, headers=(RANGE,), errors=(400, 401, 403, 416)),
    ),
    Operation(
        "DELETE", "/v1/notifications/{user}", delete_users,
        "Delete some (?ids=a,b) or all of a user's notifications and their cursor (admins; always 204)",
        Describes(204, query=IDS, errors=(400, 401, 403)),
    ),
    Operation(
        "GET", "/v1/rules", list_rules, "Every rollup rule, the hub's defaults with the stored ones over them (admins)",
        Describes(response={"type": "object", "additionalProperties": RULE}, errors=(401, 403)),
    ),
    Operation(
        "PUT", "/v1/rules/{category}", put_rule, "Create or change a category's rollup rule (admins)",
        Describes(204, request=RULE, errors=(400, 401, 403)),
    ),
    Operation(
        "DELETE", "/v1/rules/{category}", delete_rule, "Remove a stored rule (admins; 404 when none is stored)",
        Describes(204, errors=(400, 401, 403, 404)),
    ),
]  # fmt: skip
