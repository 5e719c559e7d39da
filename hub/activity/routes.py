"""The activity streams' REST routes: posts to contexts and own timelines, timelines paged by
opaque cursors, likes and comments, and the admins' broadcast to the `activity` exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hutch.hub.activity import cursor
from hutch.hub.activity.cursor import Order
from hutch.hub.activity.model import Activity
from hutch.hub.activity.rules import Filters, Paging
from hutch.hub.auth import Identity
from hutch.hub.contexts.routes import TAG_LIST, hash_of, tags_of
from hutch.hub.conversations.service import envelope
from hutch.hub.errors import Forbidden, Invalid, NotFound
from hutch.hub.notifications.events import BROADCAST
from hutch.hub.web.openapi import BINARY, NEW_POST, UPLOAD, USER_NAME, Describes, array_of, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import MAX_MESSAGE_TEXT, body_of, is_form, limit_of, text_field, upload_of
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


async def broadcast_to_context(body: dict[str, Any], identity: Identity, node: HubNode) -> Response:
    """An admin's broadcast to a context's activity, kept in its subscribers' feeds."""
    if not identity.is_admin:
        raise Forbidden("only admins may broadcast")
    message = envelope(
        identity.user, "add", "activity", {"text": text_field(body, "text", MAX_MESSAGE_TEXT)}, "broadcast"
    )
    key = text_field(body, "context")
    if len(key.encode()) > 255:  # an AMQP routing key
        raise Invalid("'context' is at most 255 bytes")
    await node.conversations.publish_to(names.ACTIVITY, key, message)
    context = await node.contexts.store.get(key)
    if context is not None:  # a context's subscribers keep it in their feeds too
        for subscription in await node.contexts.store.subscribers(context.hash):
            text = message["data"]["text"][:200]
            await node.feeds.tell(
                subscription.username, BROADCAST, text, {"target": key, "by": identity.user}
            )
    return JSONResponse({"objectType": "activity", **message}, status_code=201)


DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_CONTENT = 10_000


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not 0 < len(content) <= MAX_CONTENT:
        raise Invalid(f"'content' is a string of 1 to {MAX_CONTENT} characters")
    return content


def _paging(request: Request, *, sortable: bool = True) -> Paging:
    """The page asked for; `sortable` lists take a `sort`, the others are newest-published first."""
    sort = request.query_params.get("sort", Order.PUBLISHED) if sortable else Order.PUBLISHED
    if sort not in tuple(Order):
        raise Invalid(f"'sort' is one of {', '.join(Order)}")
    after = request.query_params.get("cursor") or None
    return Paging(after, limit_of(request, DEFAULT_LIMIT, MAX_LIMIT), Order(sort))


def _filters(request: Request) -> Filters:
    query = request.query_params
    hashtag, keyword, actor = query.get("hashtag"), query.get("keyword"), query.get("actor")
    for name, value in (("hashtag", hashtag), ("keyword", keyword)):
        if value is not None and not 0 < len(value) <= 64:
            raise Invalid(f"'{name}' is 1 to 64 characters")
    return Filters(
        hashtag=hashtag.lstrip("#").lower() if hashtag else None,
        keyword=keyword.lower() if keyword else None,
        actor=names.check_user(actor) if actor is not None else None,
        since=_instant(query, "since"),
        until=_instant(query, "until"),
    )


def _instant(query: Any, name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1e11:  # NaN fails too
        raise Invalid(f"'{name}' is a time in Unix seconds")
    return value


def _page(items: list[Activity], next_cursor: str | None) -> JSONResponse:
    return JSONResponse({"items": [a.to_json() for a in items], "next": next_cursor})


def _activity_id(request: Request, name: str = "id") -> str:
    value = request.path_params[name]
    return value if value.isascii() and value.isalnum() and len(value) <= 40 else "0"


async def _posted(request: Request) -> tuple[str, tuple[bytes, str] | None]:
    """A post's content, and its image or file (bytes and name) when sent as a form."""
    if not is_form(request):
        return _content(await body_of(request)), None
    upload = await upload_of(request)
    content = upload.fields.get("content", "")
    if len(content) > MAX_CONTENT:
        raise Invalid(f"'content' is at most {MAX_CONTENT} characters")
    return content, (upload.data, upload.filename)


async def post_to_context(request: Request, identity: Identity, node: HubNode) -> Response:
    hash = hash_of(request)
    content, upload = await _posted(request)
    activity = await node.activities.post(identity, content, hash, upload)
    return JSONResponse(activity.to_json(), status_code=201)


async def post_to_own_timeline(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    if username != identity.user:  # no one posts as another (MAX's actor chain allowed it)
        raise Forbidden("one posts on one's own timeline only")
    content, upload = await _posted(request)
    activity = await node.activities.post(identity, content, upload=upload)
    return JSONResponse(activity.to_json(), status_code=201)


async def image(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _media(request, identity, node, "full")


async def thumbnail(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _media(request, identity, node, "thumb")


async def file(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _media(request, identity, node, "file")


async def _media(request: Request, identity: Identity, node: HubNode, variant: str) -> Response:
    data, content_type = await node.activities.media_of(identity, _activity_id(request), variant)
    headers = {
        "X-Content-Type-Options": "nosniff",  # what it says it is, never sniffed into HTML
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=3600",
    }
    if variant == "file":
        activity = await node.activities.readable(identity, _activity_id(request))
        name = quote(str(activity.media.get("filename", "file")))
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return Response(data, media_type=content_type, headers=headers)


async def context_activities(request: Request, identity: Identity, node: HubNode) -> Response:
    paging, filters = _paging(request), _filters(request)
    return _page(*await node.activities.context_page(identity, hash_of(request), paging, filters))


async def timeline(request: Request, identity: Identity, node: HubNode) -> Response:
    paging, filters, tags = _paging(request), _filters(request), tags_of(request)
    username = names.check_user(request.path_params["user"])
    return _page(*await node.activities.timeline(identity, username, paging, filters, tags))


async def person_activities(request: Request, identity: Identity, node: HubNode) -> Response:
    paging, filters = _paging(request), _filters(request)
    username = names.check_user(request.path_params["user"])
    return _page(*await node.activities.person_page(identity, username, paging, filters))


async def get_activity(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse((await node.activities.readable(identity, _activity_id(request))).to_json())


async def delete_activity(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.activities.delete(identity, _activity_id(request))
    return Response(status_code=204)


async def like(request: Request, identity: Identity, node: HubNode) -> Response:
    activity, new = await node.activities.like(identity, _activity_id(request))
    return JSONResponse(activity.to_json(), status_code=201 if new else 200)


async def unlike(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.activities.unlike(identity, _activity_id(request))
    return Response(status_code=204)


async def favorite(request: Request, identity: Identity, node: HubNode) -> Response:
    activity, new = await node.activities.favorite(identity, _activity_id(request))
    return JSONResponse(activity.to_json(), status_code=201 if new else 200)


async def unfavorite(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.activities.unfavorite(identity, _activity_id(request))
    return Response(status_code=204)


async def favorites(request: Request, identity: Identity, node: HubNode) -> Response:
    paging, filters = _paging(request, sortable=False), _filters(request)
    username = names.check_user(request.path_params["user"])
    return _page(*await node.activities.favorites_page(identity, username, paging, filters))


async def pin(request: Request, identity: Identity, node: HubNode) -> Response:
    activity, new = await node.activities.flag(identity, _activity_id(request), pinned=True)
    return JSONResponse(activity.to_json(), status_code=201 if new else 200)


async def unpin(request: Request, identity: Identity, node: HubNode) -> Response:
    _, removed = await node.activities.flag(identity, _activity_id(request), pinned=False)
    if not removed:
        raise NotFound("that activity is not pinned")
    return Response(status_code=204)


async def flagged(request: Request, identity: Identity, node: HubNode) -> Response:
    return _page(
        *await node.activities.flagged_page(identity, hash_of(request), _paging(request, sortable=False))
    )


async def add_comment(request: Request, identity: Identity, node: HubNode) -> Response:
    content = _content(await body_of(request))
    comment = await node.activities.comment(identity, _activity_id(request), content)
    return JSONResponse(comment.to_json(), status_code=201)


async def list_comments(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse(
        [c.to_json() for c in await node.activities.comments(identity, _activity_id(request))]
    )


async def delete_comment(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.activities.delete_comment(identity, _activity_id(request), _activity_id(request, "comment"))
    return Response(status_code=204)


ACTIVITY, PAGE = ref("Activity"), ref("ActivityPage")
PAGING = (
    (
        "cursor",
        {"type": "string", "pattern": cursor.PATTERN, "description": "a page's `next`, as it is"},
        False,
    ),
    ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, False),
    ("sort", {"enum": list(Order), "default": Order.PUBLISHED.value}, False),
    ("hashtag", {"type": "string", "minLength": 1, "maxLength": 64}, False),
    ("keyword", {"type": "string", "minLength": 1, "maxLength": 64}, False),
    ("actor", USER_NAME, False),
    ("since", {"type": "number", "minimum": 0, "exclusiveMaximum": 1e11}, False),
    ("until", {"type": "number", "minimum": 0, "exclusiveMaximum": 1e11}, False),
)

TIMELINE_QUERY = (*PAGING, ("tags", TAG_LIST, False))
UNSORTED = tuple(parameter for parameter in PAGING if parameter[0] != "sort")


OPERATIONS = [
    Operation(
        "POST", "/api/contexts/{hash}/activities", post_to_context, "Post to a context (write)",
        Describes(201, ACTIVITY, NEW_POST, errors=(400, 401, 403, 404), form=UPLOAD),
    ),
    Operation(
        "GET", "/api/contexts/{hash}/activities", context_activities, "A context's activities, newest first (read)",
        Describes(response=PAGE, query=PAGING, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "POST", "/api/people/{user}/activities", post_to_own_timeline, "Post on one's own timeline",
        Describes(201, ACTIVITY, NEW_POST, errors=(400, 401, 403), form=UPLOAD),
    ),
    Operation(
        "GET", "/api/people/{user}/activities", person_activities, "What a person posted, as far as one may read it",
        Describes(response=PAGE, query=PAGING, errors=(400, 401)),
    ),
    Operation(
        "GET", "/api/people/{user}/timeline", timeline,
        "A user's timeline: their posts and those of the contexts they read (the user or an admin)",
        Describes(response=PAGE, query=TIMELINE_QUERY, errors=(400, 401, 403)),
    ),
    Operation(
        "GET", "/api/activities/{id}", get_activity, "One activity", Describes(response=ACTIVITY, errors=(401, 404)),
    ),
    Operation(
        "GET", "/api/activities/{id}/image", image, "An image activity's picture, as uploaded",
        Describes(response=BINARY, content_type="image/*", errors=(401, 404)),
    ),
    Operation(
        "GET", "/api/activities/{id}/image/thumb", thumbnail, "An image activity's thumbnail (PNG, at most 400 px)",
        Describes(response=BINARY, content_type="image/png", errors=(401, 404)),
    ),
    Operation(
        "GET", "/api/activities/{id}/file", file, "A file activity's file, as an attachment",
        Describes(response=BINARY, content_type="application/octet-stream", errors=(401, 404)),
    ),
    Operation(
        "DELETE", "/api/activities/{id}", delete_activity,
        "Delete an activity, its comments and likes (its actor, the context's owner, delete, or an admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
    Operation(
        "POST", "/api/activities/{id}/likes", like, "Like an activity (again: 200)",
        Describes(201, ACTIVITY, also=(200,), errors=(401, 404)),
    ),
    Operation(
        "DELETE", "/api/activities/{id}/likes", unlike, "Take one's like back", Describes(204, errors=(401, 404)),
    ),
    Operation(
        "POST", "/api/activities/{id}/favorites", favorite, "Keep an activity among one's favorites (again: 200)",
        Describes(201, ACTIVITY, also=(200,), errors=(401, 404)),
    ),
    Operation(
        "DELETE", "/api/activities/{id}/favorites", unfavorite, "Take an activity out of one's favorites",
        Describes(204, errors=(401, 404)),
    ),
    Operation(
        "GET", "/api/people/{user}/favorites", favorites, "A user's favorites (the user or an admin)",
        Describes(response=PAGE, query=UNSORTED, errors=(400, 401, 403)),
    ),
    Operation(
        "POST", "/api/activities/{id}/flag", pin, "Pin an activity in its context (owner, flag, or admin; again: 200)",
        Describes(201, ACTIVITY, also=(200,), errors=(400, 401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/activities/{id}/flag", unpin, "Unpin an activity", Describes(204, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "GET", "/api/contexts/{hash}/flagged", flagged, "A context's pinned activities, newest first (read)",
        Describes(response=PAGE, query=UNSORTED[:2], errors=(400, 401, 403, 404)),
    ),
    Operation(
        "POST", "/api/activities/{id}/comments", add_comment, "Comment (write, in a context)",
        Describes(201, ref("Comment"), NEW_POST, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "GET", "/api/activities/{id}/comments", list_comments, "An activity's comments, oldest first",
        Describes(response=array_of("Comment"), errors=(401, 404)),
    ),
    Operation(
        "DELETE", "/api/activities/{id}/comments/{comment}", delete_comment,
        "Delete a comment (its author, the context's owner, delete, or an admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
]  # fmt: skip
