"""Direct messaging's REST routes: admin sends, scheduled sends, channel preferences."""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING, Any

from hutch.hub.activity.routes import broadcast_to_context
from hutch.hub.auth import Identity
from hutch.hub.direct.model import CHANNELS, EMAIL_PATTERN, PHONE_PATTERN, URGENCIES, Job
from hutch.hub.direct.service import MAX_RECIPIENTS, MAX_TEXT
from hutch.hub.web.openapi import BROADCAST, USER_NAME, Describes, obj, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import body_of, user_field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode


async def send(request: Request, identity: Identity, node: HubNode) -> Response:
    return _accepted(await node.direct.submit(identity, "send", await body_of(request)))


async def multicast(request: Request, identity: Identity, node: HubNode) -> Response:
    return _accepted(await node.direct.submit(identity, "multicast", await body_of(request)))


async def broadcast(request: Request, identity: Identity, node: HubNode) -> Response:
    body = await body_of(request)
    if "context" in body:  # MAX's broadcast, to a context's activity
        return await broadcast_to_context(body, identity, node)
    return _accepted(await node.direct.submit(identity, "broadcast", body))


async def scheduled(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse([job.shown() for job in await node.direct.scheduled(identity)])


async def cancel(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.direct.cancel(identity, request.path_params["id"])
    return Response(status_code=204)


async def preferences(request: Request, identity: Identity, node: HubNode) -> Response:
    found = await node.direct.preferences(identity, user_field(request.path_params, "user"))
    return JSONResponse(found.to_json())


async def set_preferences(request: Request, identity: Identity, node: HubNode) -> Response:
    user = user_field(request.path_params, "user")
    changed = await node.direct.set_preferences(identity, user, await body_of(request))
    return JSONResponse(changed.to_json())


def _accepted(job: Job) -> Response:
    return JSONResponse(job.shown(), status_code=202)


INSTANT = {"type": "string", "format": "date-time", "maxLength": 40}
URGENCY = {"type": "integer", "minimum": 1, "maximum": 4, "description": "RFC 8030: very-low .. high"}
_SEND_FIELDS: dict[str, Any] = {
    "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
    "urgency": URGENCY,
    "category": {"type": "string", "minLength": 1, "maxLength": 64},
    "data": {"type": "object"},
    "deliver_at": {**INSTANT, "description": "send then, not now (RFC 3339 with its offset)"},
    "context": {"not": {}},  # with a context, /api/broadcast is MAX's (BROADCAST)
}
SEND = obj(["text", "user"], {**_SEND_FIELDS, "user": USER_NAME}, closed=False)
MULTICAST = obj(
    ["text", "users"],
    {
        **_SEND_FIELDS,
        "users": {"type": "array", "items": USER_NAME, "minItems": 1, "maxItems": MAX_RECIPIENTS},
    },
    closed=False,
)
DIRECT_BROADCAST = {"anyOf": [obj(["text"], _SEND_FIELDS, closed=False), BROADCAST]}
JOB = obj(
    ["id", "kind", "deliverAt"],
    {"id": {"type": "string"}, "kind": {"enum": ["send", "chat"]}, "deliverAt": INSTANT},
    closed=False,
)
LEVELS = {"type": "array", "items": URGENCY}
PREFERENCES = obj(
    [],
    {
        "channels": {
            "type": "object",
            "properties": {channel: LEVELS for channel in CHANNELS},
            "additionalProperties": False,
        },
        "categories": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": {"type": "array", "items": {"enum": list(CHANNELS)}},
        },
        "quiet": {
            "type": ["object", "null"],
            "required": ["from", "to"],
            "additionalProperties": False,
            "properties": {
                "from": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                "to": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                "timezone": {"enum": sorted(zoneinfo.available_timezones()), "description": "an IANA zone"},
                "below": {"type": "integer", "enum": list(URGENCIES)},
            },
        },
        "mutes": {
            "type": "object",
            "maxProperties": 200,
            "propertyNames": {"pattern": "^(conversation|context)/[^/]{1,64}$"},
            "description": "'conversation/<id>' or 'context/<hash>' to an end time, or null: until unmuted",
            "additionalProperties": {"anyOf": [INSTANT, {"type": "null"}]},
        },
        "email": {"type": ["string", "null"], "pattern": f"^{EMAIL_PATTERN}$"},
        "phone": {"type": ["string", "null"], "pattern": f"^{PHONE_PATTERN}$"},
    },
)
ADMINS = (400, 401, 403, 409)

OPERATIONS = [
    Operation(
        "POST", "/api/send", send, "Send to one user's devices, feed and channels (admins)",
        Describes(202, JOB, SEND, errors=ADMINS),
    ),
    Operation(
        "POST", "/api/multicast", multicast, "Send to a list of users (admins)",
        Describes(202, JOB, MULTICAST, errors=ADMINS),
    ),
    Operation(
        "POST", "/api/broadcast", broadcast,
        "Broadcast (admins): to every user (202), or with 'context' to its activity and feeds (201)",
        Describes(202, {"anyOf": [JOB, ref("Envelope")]}, DIRECT_BROADCAST, errors=ADMINS, also=(201,)),
    ),
    Operation(
        "GET", "/api/scheduled", scheduled, "Your sends and chat messages waiting for their time",
        Describes(response={"type": "array", "items": JOB}, errors=(401,)),
    ),
    Operation(
        "DELETE", "/api/scheduled/{id}", cancel, "Cancel one of your scheduled sends",
        Describes(204, errors=(401, 404)),
    ),
    Operation(
        "GET", "/api/people/{user}/preferences", preferences, "Channel preferences (the user, or admins)",
        Describes(response=PREFERENCES, errors=(400, 401, 403)),
    ),
    Operation(
        "PUT", "/api/people/{user}/preferences", set_preferences,
        "Change channel preferences: what is left out stays (the user, or admins)",
        Describes(response=PREFERENCES, request=PREFERENCES, errors=(400, 401, 403)),
    ),
]  # fmt: skip
