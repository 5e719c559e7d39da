"""Activity streams: what is published to the `activity` exchange.

Today it holds the admins' broadcast; contexts, timelines, comments and likes come here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.conversations.service import envelope
from hutch.hub.errors import Forbidden, Invalid
from hutch.hub.web.openapi import BROADCAST, Describes, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import MAX_MESSAGE_TEXT, body_of, text_field
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


async def broadcast(request: Request, identity: Identity, node: HubNode) -> Response:
    if not identity.is_admin:
        raise Forbidden("only admins may broadcast")
    body = await body_of(request)
    message = envelope(
        identity.user, "add", "activity", {"text": text_field(body, "text", MAX_MESSAGE_TEXT)}, "broadcast"
    )
    key = text_field(body, "context") if "context" in body else "broadcast"
    if len(key.encode()) > 255:  # an AMQP routing key
        raise Invalid("'context' is at most 255 bytes")
    await node.conversations.publish_to(names.ACTIVITY, key, message)
    return JSONResponse({"objectType": "activity", **message}, status_code=201)


OPERATIONS = [
    Operation(
        "POST", "/api/broadcast", broadcast, "Broadcast to activity (admins)",
        Describes(201, ref("Envelope"), BROADCAST, errors=(400, 401, 403)),
    ),
]  # fmt: skip
