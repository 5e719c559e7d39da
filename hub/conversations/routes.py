"""The conversations' REST routes: conversations, members, history, read cursors, unread counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hutch.hub.auth import Identity
from hutch.hub.conversations.model import Conversation, StoredMessage, id_key
from hutch.hub.conversations.service import Summary, not_found
from hutch.hub.errors import Invalid
from hutch.hub.web.openapi import (
    A_USER,
    MESSAGE_ID,
    NEW_CONVERSATION,
    NEW_MESSAGE,
    READ_UP_TO,
    RENAME,
    Describes,
    array_of,
    ref,
)
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import MAX_MESSAGE_TEXT, MAX_TEXT, body_of, limit_of, text_field, user_field
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


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


async def list_conversations(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse([summary_json(s) for s in await node.conversations.summaries(identity)])


async def create_conversation(request: Request, identity: Identity, node: HubNode) -> Response:
    body = await body_of(request)
    participants = body.get("participants")
    if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
        raise Invalid("'participants' must be a list of user names")
    for participant in participants:
        names.check_user(participant)
    name = body.get("displayName") or ""  # none: the members' names
    if not isinstance(name, str) or len(name) > MAX_TEXT:
        raise Invalid(f"'displayName' must be a string of at most {MAX_TEXT} characters")
    conversation, created = await node.conversations.create(identity, participants, name)
    return JSONResponse(conversation_json(conversation), status_code=201 if created else 200)


async def get_conversation(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse(conversation_json(await node.conversations.get(identity, cid_of(request))))


async def rename_conversation(request: Request, identity: Identity, node: HubNode) -> Response:
    name = text_field(await body_of(request), "displayName")
    return JSONResponse(conversation_json(await node.conversations.rename(identity, cid_of(request), name)))


async def delete_conversation(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.conversations.delete(identity, cid_of(request))
    return Response(status_code=204)


async def add_participant(request: Request, identity: Identity, node: HubNode) -> Response:
    user = user_field(await body_of(request), "username")
    conversation = await node.conversations.add_member(identity, cid_of(request), user)
    return JSONResponse(conversation_json(conversation), status_code=201)


async def remove_participant(request: Request, identity: Identity, node: HubNode) -> Response:
    user = names.check_user(request.path_params["user"])
    await node.conversations.remove_member(identity, cid_of(request), user)
    return Response(status_code=204)


async def transfer_owner(request: Request, identity: Identity, node: HubNode) -> Response:
    user = user_field(await body_of(request), "username")
    return JSONResponse(conversation_json(await node.conversations.transfer(identity, cid_of(request), user)))


async def list_messages(request: Request, identity: Identity, node: HubNode) -> Response:
    query = request.query_params
    before, after = query.get("before"), query.get("after")
    try:
        for cursor in (before, after):
            if cursor is not None:
                id_key(cursor)
    except ValueError as error:
        raise Invalid(str(error)) from None
    limit = limit_of(request, 50, 200)
    found = await node.conversations.messages(
        identity, cid_of(request), before=before, after=after, limit=limit
    )
    return JSONResponse([message_json(m) for m in found])


async def post_message(request: Request, identity: Identity, node: HubNode) -> Response:
    body = await body_of(request)
    if "data" not in body and "text" in body:
        body["data"] = {"text": text_field(body, "text", MAX_MESSAGE_TEXT)}
    data = body.get("data")
    if not isinstance(data, dict):
        raise Invalid('send {"data": {...}} or {"text": "..."}')
    if body.get("deliver_at") is not None:  # sent then: kept by direct messaging until its time
        job = await node.direct.schedule_chat(identity, cid_of(request), data, body["deliver_at"])
        return JSONResponse(job.shown(), status_code=202)
    message = await node.conversations.post(identity, cid_of(request), data)
    return JSONResponse({"objectType": "message", **message}, status_code=201)


async def mark_read(request: Request, identity: Identity, node: HubNode) -> Response:
    message_id = text_field(await body_of(request), "id")
    try:
        id_key(message_id)
    except ValueError as error:
        raise Invalid(str(error)) from None
    await node.conversations.mark_read(identity, cid_of(request), message_id)
    return Response(status_code=204)


async def read_positions(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse(await node.conversations.read_positions(identity, cid_of(request)))


async def unread_totals(request: Request, identity: Identity, node: HubNode) -> Response:
    counts = await node.conversations.unread_counts(identity)
    return JSONResponse({"total": sum(counts.values()), "conversations": counts})


CONVERSATION, MESSAGES = ref("Conversation"), array_of("Message")
SCHEDULED = {
    "type": "object",
    "required": ["id", "deliverAt"],
    "description": "with deliver_at: kept until then (202)",
}

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
        Describes(
            201, {"anyOf": [ref("Envelope"), SCHEDULED]}, NEW_MESSAGE, errors=(400, 401, 403, 404, 409), also=(202,)
        ),
    ),
    Operation(
        "POST", "/api/conversations/{cid}/read", mark_read, "Mark read up to a message id",
        Describes(204, request=READ_UP_TO),
    ),
    Operation(
        "GET", "/api/conversations/{cid}/read", read_positions, "Where each participant has read up to",
        Describes(response=ref("ReadPositions"), errors=(401, 403, 404)),
    ),
    Operation(
        "GET", "/api/unread", unread_totals, "Unread counts, in all and per conversation",
        Describes(response=ref("Unread"), errors=(401,)),
    ),
]  # fmt: skip
