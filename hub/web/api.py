"""The REST API: conversations, members, history, read cursors, unread counts, presence.

Callers authenticate with `Authorization: Bearer <token>` or the MAX headers
`X-Oauth-Token` and `X-Oauth-Username`. Errors answer with the MAX error body
`{"objectType": "error", "error": ..., "error_description": ...}`. The OpenAPI
document is served at /api/openapi.json, built from the same route table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from hutch.hub.auth import Identity
from hutch.hub.broker.errors import BrokerError
from hutch.hub.conversations.model import Conversation, StoredMessage, id_key
from hutch.hub.conversations.service import Conversations, Refused, Summary, envelope, not_found
from hutch.hub.messages import payload
from hutch.hub.node import VERSION, HubNode
from hutch.hub.push.devices import device_from_body, device_json
from hutch.hub.store.errors import StoreUnavailable
from hutch.hub.web.openapi import (
    A_USER,
    BROADCAST,
    MESSAGE_ID,
    NEW_CONVERSATION,
    NEW_DEVICE,
    NEW_MESSAGE,
    READ_UP_TO,
    RENAME,
    USER_LIST,
    Describes,
    array_of,
    document,
    ref,
)
from hutch.protocol import names, whole_number
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[[Request, Identity, Conversations], Awaitable[Response]]


def error_response(refused: Refused) -> JSONResponse:
    return JSONResponse(refused.body(), status_code=refused.status)


async def identity_of(request: Request, node: HubNode) -> Identity:
    authorization = request.headers.get("authorization", "")
    login = request.headers.get("x-oauth-username")
    token = (
        authorization[7:].strip()
        if authorization.lower().startswith("bearer ")
        else request.headers.get("x-oauth-token")
    )
    if not token:
        raise Refused(
            401, "Unauthorized", "send Authorization: Bearer <token>, or X-Oauth-Token and X-Oauth-Username"
        )
    identity = await node.authenticator.authenticate(login, token)
    if identity is None:
        raise Refused(401, "InvalidCredentials", "the token is not valid: expired, forged or unknown")
    try:
        names.check_user(identity.user)
    except names.BadName as error:
        raise Refused(401, "InvalidCredentials", f"the token names no valid user: {error}") from None
    return identity


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        node: HubNode = request.app.state.node
        try:
            identity = await identity_of(request, node)
            return await handler(request, identity, node.conversations)
        except Refused as refused:
            return error_response(refused)
        except names.BadName as error:
            return error_response(Refused(400, "ValidationError", str(error)))
        except BrokerError as error:
            return error_response(Refused(503, "ServiceUnavailable", f"the broker is unavailable: {error}"))
        except StoreUnavailable as error:
            return error_response(Refused(503, "ServiceUnavailable", f"the store is unavailable: {error}"))

    return run


async def body_of(request: Request) -> dict[str, Any]:
    """The JSON object of the body: at most `max_request_body` bytes (413), finite numbers of at
    most 64 bits and 32 levels deep (400), so that nothing stored fails to read back."""
    settings = request.app.state.node.settings
    limit = settings.max_request_body
    too_large = Refused(413, "PayloadTooLarge", f"the body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise too_large
    try:
        value = orjson.loads(received or b"{}")
        payload.check(value, max_depth=settings.max_json_depth)
    except orjson.JSONDecodeError as error:
        raise Refused(400, "ValidationError", f"the body is not valid JSON: {error}") from None
    except payload.BadPayload as error:
        raise Refused(400, "ValidationError", f"the body holds {error}") from None
    if not isinstance(value, dict):
        raise Refused(400, "ValidationError", "the body must be a JSON object")
    return value


MAX_TEXT = 200  # characters of a display name, a context key
MAX_MESSAGE_TEXT = 10_000
MAX_DEVICES = 50  # push devices per user


def text_field(body: dict[str, Any], name: str, longest: int = MAX_TEXT) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > longest:
        raise Refused(400, "ValidationError", f"'{name}' must be a string of 1 to {longest} characters")
    return value


def user_field(body: dict[str, Any], name: str) -> str:
    return names.check_user(text_field(body, name))


def cid_of(request: Request) -> str:
    """The conversation of the path; an id no conversation can have is not found."""
    cid = request.path_params["cid"]
    try:
        return names.check_conversation(cid)
    except names.BadName:
        raise not_found(cid) from None


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "objectType": "conversation",
        "id": conversation.id,
        "displayName": conversation.name,
        "participants": conversation.members,
        "owner": conversation.owner,
        "group": conversation.group,
        "published": conversation.created,
    }


def message_json(stored: StoredMessage) -> dict[str, Any]:
    # The hub's fields last: a message's own "id" or "sender" never stands for the real ones.
    return {**stored.message, "objectType": "message", "id": stored.id, "sender": stored.sender}


def summary_json(summary: Summary) -> dict[str, Any]:
    last = summary.last_message
    return {
        **conversation_json(summary.conversation),
        "lastMessage": message_json(last) if last else None,
        "unread": summary.unread,
    }


# -- handlers ----------------------------------------------------------------


async def list_conversations(request: Request, identity: Identity, conversations: Conversations) -> Response:
    return JSONResponse([summary_json(s) for s in await conversations.summaries(identity)])


async def create_conversation(request: Request, identity: Identity, conversations: Conversations) -> Response:
    body = await body_of(request)
    participants = body.get("participants")
    if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
        raise Refused(400, "ValidationError", "'participants' must be a list of user names")
    for participant in participants:
        names.check_user(participant)
    name = body.get("displayName") or ""  # none: the members' names
    if not isinstance(name, str) or len(name) > MAX_TEXT:
        raise Refused(
            400, "ValidationError", f"'displayName' must be a string of at most {MAX_TEXT} characters"
        )
    conversation, created = await conversations.create(identity, participants, name)
    return JSONResponse(conversation_json(conversation), status_code=201 if created else 200)


async def get_conversation(request: Request, identity: Identity, conversations: Conversations) -> Response:
    return JSONResponse(conversation_json(await conversations.get(identity, cid_of(request))))


async def rename_conversation(request: Request, identity: Identity, conversations: Conversations) -> Response:
    name = text_field(await body_of(request), "displayName")
    return JSONResponse(conversation_json(await conversations.rename(identity, cid_of(request), name)))


async def delete_conversation(request: Request, identity: Identity, conversations: Conversations) -> Response:
    await conversations.delete(identity, cid_of(request))
    return Response(status_code=204)


async def add_participant(request: Request, identity: Identity, conversations: Conversations) -> Response:
    user = user_field(await body_of(request), "username")
    conversation = await conversations.add_member(identity, cid_of(request), user)
    return JSONResponse(conversation_json(conversation), status_code=201)


async def remove_participant(request: Request, identity: Identity, conversations: Conversations) -> Response:
    user = names.check_user(request.path_params["user"])
    await conversations.remove_member(identity, cid_of(request), user)
    return Response(status_code=204)


async def transfer_owner(request: Request, identity: Identity, conversations: Conversations) -> Response:
    user = user_field(await body_of(request), "username")
    return JSONResponse(conversation_json(await conversations.transfer(identity, cid_of(request), user)))


async def list_messages(request: Request, identity: Identity, conversations: Conversations) -> Response:
    query = request.query_params
    before, after = query.get("before"), query.get("after")
    try:
        for cursor in (before, after):
            if cursor is not None:
                id_key(cursor)
    except ValueError as error:
        raise Refused(400, "ValidationError", str(error)) from None
    limit = whole_number(query.get("limit", "50"), 200)
    if not limit:
        raise Refused(400, "ValidationError", "limit is a whole number between 1 and 200")
    found = await conversations.messages(identity, cid_of(request), before=before, after=after, limit=limit)
    return JSONResponse([message_json(m) for m in found])


async def post_message(request: Request, identity: Identity, conversations: Conversations) -> Response:
    body = await body_of(request)
    if "data" not in body and "text" in body:
        body["data"] = {"text": text_field(body, "text", MAX_MESSAGE_TEXT)}
    data = body.get("data")
    if not isinstance(data, dict):
        raise Refused(400, "ValidationError", 'send {"data": {...}} or {"text": "..."}')
    message = await conversations.post(identity, cid_of(request), data)
    return JSONResponse({"objectType": "message", **message}, status_code=201)


async def mark_read(request: Request, identity: Identity, conversations: Conversations) -> Response:
    message_id = text_field(await body_of(request), "id")
    try:
        id_key(message_id)
    except ValueError as error:
        raise Refused(400, "ValidationError", str(error)) from None
    await conversations.mark_read(identity, cid_of(request), message_id)
    return Response(status_code=204)


async def unread_totals(request: Request, identity: Identity, conversations: Conversations) -> Response:
    counts = await conversations.unread_counts(identity)
    return JSONResponse({"total": sum(counts.values()), "conversations": counts})


async def presence(request: Request, identity: Identity, conversations: Conversations) -> Response:
    users = [u for u in request.query_params.get("users", "").split(",") if u]
    if not users or len(users) > 500:
        raise Refused(400, "ValidationError", "ask for ?users=a,b,c (at most 500)")
    for user in users:
        names.check_user(user)
    online = await conversations.store.online(users)
    return JSONResponse({u: {"online": n > 0, "devices": n} for u, n in online.items()})


async def broadcast(request: Request, identity: Identity, conversations: Conversations) -> Response:
    if not identity.is_admin:
        raise Refused(403, "Forbidden", "only admins may broadcast")
    body = await body_of(request)
    message = envelope(
        identity.user, "add", "activity", {"text": text_field(body, "text", MAX_MESSAGE_TEXT)}, "broadcast"
    )
    key = text_field(body, "context") if "context" in body else "broadcast"
    if len(key.encode()) > 255:  # an AMQP routing key
        raise Refused(400, "ValidationError", "'context' is at most 255 bytes")
    await conversations.publish_to(names.ACTIVITY, key, message)
    return JSONResponse({"objectType": "activity", **message}, status_code=201)


async def register_device(request: Request, identity: Identity, conversations: Conversations) -> Response:
    device = device_from_body(identity.user, await body_of(request))
    known = await conversations.store.devices_of(identity.user)
    if len(known) >= MAX_DEVICES and device.id not in {d.id for d in known}:
        raise Refused(409, "Conflict", f"at most {MAX_DEVICES} devices; remove one first")
    new = await conversations.store.add_device(device)
    return JSONResponse(device_json(device), status_code=201 if new else 200)


async def list_devices(request: Request, identity: Identity, conversations: Conversations) -> Response:
    return JSONResponse([device_json(d) for d in await conversations.store.devices_of(identity.user)])


async def remove_device(request: Request, identity: Identity, conversations: Conversations) -> Response:
    if not await conversations.store.remove_device(identity.user, request.path_params["device"]):
        raise Refused(404, "ObjectNotFound", "no such device of yours")
    return Response(status_code=204)


# -- routes and their OpenAPI description ------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    describes: Describes = field(default_factory=Describes)


CONVERSATION, MESSAGES = ref("Conversation"), array_of("Message")

OPERATIONS = [
    Operation(
        "GET", "/api/conversations", list_conversations, "My conversations, newest activity first",
        Describes(response=array_of("Summary"), errors=(401,)),
    ),
    Operation(
        "POST", "/api/conversations", create_conversation, "Start a conversation (two people reuse theirs: 200)",
        Describes(201, CONVERSATION, NEW_CONVERSATION, also=(200,), errors=(400, 401)),
    ),
    Operation(
        "GET", "/api/conversations/{cid}", get_conversation, "One conversation",
        Describes(response=CONVERSATION, errors=(401, 403, 404)),
    ),
    Operation(
        "PATCH", "/api/conversations/{cid}", rename_conversation, "Rename (the owner of a group)",
        Describes(response=CONVERSATION, request=RENAME),
    ),
    Operation(
        "DELETE", "/api/conversations/{cid}", delete_conversation, "Delete (the owner of a group)",
        Describes(204, errors=(401, 403, 404)),
    ),
    Operation(
        "POST", "/api/conversations/{cid}/participants", add_participant, "Add a participant (the owner)",
        Describes(201, CONVERSATION, A_USER),
    ),
    Operation(
        "DELETE", "/api/conversations/{cid}/participants/{user}", remove_participant,
        "Remove a participant (the owner of a group), or leave", Describes(204),
    ),
    Operation(
        "POST", "/api/conversations/{cid}/owner", transfer_owner, "Give the group to another participant",
        Describes(response=CONVERSATION, request=A_USER),
    ),
    Operation(
        "GET", "/api/conversations/{cid}/messages", list_messages, "History in time order: before, after, limit",
        Describes(
            response=MESSAGES,
            query=(
                ("before", MESSAGE_ID, False),
                ("after", MESSAGE_ID, False),
                ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, False),
            ),
        ),
    ),
    Operation(
        "POST", "/api/conversations/{cid}/messages", post_message, "Send a message (participants)",
        Describes(201, ref("Envelope"), NEW_MESSAGE),
    ),
    Operation(
        "POST", "/api/conversations/{cid}/read", mark_read, "Mark read up to a message id",
        Describes(204, request=READ_UP_TO),
    ),
    Operation(
        "GET", "/api/unread", unread_totals, "Unread counts, in all and per conversation",
        Describes(response=ref("Unread"), errors=(401,)),
    ),
    Operation(
        "GET", "/api/presence", presence, "Who of ?users=a,b is online (at most 500)",
        Describes(response=ref("Presence"), query=(("users", USER_LIST, True),), errors=(400, 401)),
    ),
    Operation(
        "POST", "/api/devices", register_device,
        "Register a device for push: ios/android token or Web Push subscription (again: 200)",
        Describes(201, ref("Device"), NEW_DEVICE, also=(200,), errors=(400, 401, 409)),
    ),
    Operation(
        "GET", "/api/devices", list_devices, "My devices", Describes(response=array_of("Device"), errors=(401,)),
    ),
    Operation(
        "DELETE", "/api/devices/{device}", remove_device, "Forget one of my devices",
        Describes(204, errors=(401, 404)),
    ),
    Operation(
        "POST", "/api/broadcast", broadcast, "Broadcast to activity (admins)",
        Describes(201, ref("Envelope"), BROADCAST, errors=(400, 401, 403)),
    ),
]  # fmt: skip


def openapi_document() -> dict[str, Any]:
    return document(OPERATIONS, VERSION)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


def routes() -> list[Route]:
    """One route per path, so that a 405 names every method the path takes in `Allow`."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method] = endpoint(op.handler)
    found = [Route(path, _by_method(handlers), methods=list(handlers)) for path, handlers in by_path.items()]
    return [*found, Route("/api/openapi.json", openapi)]


async def _never(request: Request) -> Response:
    return error_response(Refused(405, "MethodNotAllowed", f"{request.method} is not allowed here"))


def _by_method(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        return await handlers.get(request.method, handlers.get("GET", _never))(request)

    return dispatch
