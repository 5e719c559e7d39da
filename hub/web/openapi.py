"""The REST API's OpenAPI document: every operation's parameters, bodies and answers, typed.

Built from the route table (`api.OPERATIONS`), so that it cannot drift from what is served;
the test suite holds the hub to it with schemathesis, on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_NAME = {
    "type": "string",
    "pattern": r"^(?!amq\.|hutch\.)[A-Za-z0-9_.-]{1,64}$",
    "description": "1-64 ASCII letters, digits, '_', '-', '.'; letters of other scripts are taken too "
    "(at most 80 characters once encoded for the broker). Not 'amq.*' or 'hutch.*'.",
}
_ONE_USER = r"(?!amq\.|hutch\.)[A-Za-z0-9_.-]{1,64}"
USER_LIST = {
    "type": "string",
    "pattern": f"^{_ONE_USER}(,{_ONE_USER}){{0,499}}$",
    "description": "1-500 user names",
}
CONVERSATION_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"}
ACTIVITY_ID = {"type": "string", "pattern": r"^[0-9]{13}[0-9a-f]{12}$", "description": "time-ordered"}
CONTEXT_HASH = {
    "type": "string",
    "pattern": r"^[0-9a-f]{40}$",
    "description": "the SHA-1 of the context's URL, in hex",
}
MESSAGE_ID = {
    "type": "string",
    "pattern": r"^[0-9]{1,19}(-[0-9]{1,19})?$",
    "description": "<milliseconds>-<sequence>, each a 64-bit unsigned number",
}
DISPLAY_NAME = {"type": "string", "maxLength": 200}
TEXT = {"type": "string", "minLength": 1, "maxLength": 10_000}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


def obj(required: list[str], properties: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema


CONVERSATION_FIELDS = {
    "objectType": {"const": "conversation"},
    "id": CONVERSATION_ID,
    "displayName": {"type": "string"},
    "participants": {"type": "array", "items": {"type": "string"}},
    "owner": {"type": ["string", "null"]},
    "group": {"type": "boolean"},
    "published": {"type": "number"},
}

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        ["objectType", "error", "error_description"],
        {
            "objectType": {"const": "error"},
            "error": {"type": "string"},
            "error_description": {"type": "string"},
        },
    ),
    "Conversation": obj(list(CONVERSATION_FIELDS), CONVERSATION_FIELDS),
    "Summary": obj(
        [*CONVERSATION_FIELDS, "lastMessage", "unread"],
        {
            **CONVERSATION_FIELDS,
            "lastMessage": {"oneOf": [ref("Message"), {"type": "null"}]},
            "unread": {"type": "integer", "minimum": 0},
        },
    ),
    "Message": obj(
        ["objectType", "id", "sender"],
        {"objectType": {"const": "message"}, "id": MESSAGE_ID, "sender": {"type": "string"}},
        closed=False,  # and the message's own fields (a MAX envelope)
    ),
    "Envelope": obj(
        ["objectType", "uuid", "user", "action", "object", "data", "published"],
        {
            "objectType": {"type": "string"},
            "uuid": {"type": "string"},
            "user": obj(["username"], {"username": {"type": "string"}}, closed=False),
            "action": {"type": "string"},
            "object": {"type": "string"},
            "data": {"type": "object"},
            "published": {"type": "string"},
        },
        closed=False,
    ),
    "Unread": obj(
        ["total", "conversations"],
        {
            "total": {"type": "integer", "minimum": 0},
            "conversations": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        },
    ),
    "ReadPositions": {
        "type": "object",
        "description": "each participant: the id of the last message they read, or null",
        "additionalProperties": {"anyOf": [MESSAGE_ID, {"type": "null"}]},
    },
    "Presence": {
        "type": "object",
        "additionalProperties": obj(
            ["online", "devices"],
            {"online": {"type": "boolean"}, "devices": {"type": "integer", "minimum": 0}},
        ),
    },
    "Person": obj(
        ["objectType", "username", "displayName", "avatar", "hidden", "published"],
        {
            "objectType": {"const": "person"},
            "username": {"type": "string"},
            "displayName": {"type": "string"},
            "avatar": {"type": ["string", "null"]},
            "hidden": {"type": "boolean"},
            "published": {"type": "number"},
        },
    ),
    "Context": obj(
        [
            "objectType",
            "hash",
            "url",
            "displayName",
            "tags",
            "permissions",
            "notifications",
            "owner",
            "creator",
            "published",
        ],
        {
            "objectType": {"const": "context"},
            "hash": CONTEXT_HASH,
            "url": {"type": "string"},
            "displayName": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "permissions": {
                "type": "object",
                "additionalProperties": {"enum": ["public", "subscribed", "restricted"]},
            },
            "notifications": {"enum": ["none", "posts", "comments"]},
            "owner": {"type": "string"},
            "creator": {"type": "string"},
            "published": {"type": "number"},
        },
    ),
    "Subscription": obj(
        [
            "objectType",
            "hash",
            "username",
            "permissions",
            "grants",
            "vetoes",
            "realtime",
            "push",
            "context",
            "published",
        ],
        {
            "objectType": {"const": "subscription"},
            "hash": CONTEXT_HASH,
            "username": {"type": "string"},
            "permissions": {"type": "array", "items": {"type": "string"}},
            "grants": {"type": "array", "items": {"type": "string"}},
            "vetoes": {"type": "array", "items": {"type": "string"}},
            "realtime": {"type": "boolean", "description": "news live on one's stream while online"},
            "push": {"type": "boolean", "description": "news pushed to one's devices while offline"},
            "context": ref("Context"),
            "published": {"type": "number"},
        },
    ),
    "Activity": obj(
        [
            "objectType",
            "id",
            "actor",
            "object",
            "contexts",
            "hashtags",
            "likesCount",
            "commentsCount",
            "favoritesCount",
            "flagged",
            "published",
            "lastComment",
            "generator",
        ],
        {
            "objectType": {"const": "activity"},
            "id": ACTIVITY_ID,
            "actor": obj(
                ["objectType", "username"],
                {"objectType": {"const": "person"}, "username": {"type": "string"}},
            ),
            "object": obj(
                ["objectType", "content"], {"objectType": {"type": "string"}, "content": {"type": "string"}}
            ),
            "contexts": {"type": "array", "items": CONTEXT_HASH},
            "hashtags": {"type": "array", "items": {"type": "string"}},
            "likesCount": {"type": "integer", "minimum": 0},
            "commentsCount": {"type": "integer", "minimum": 0},
            "favoritesCount": {"type": "integer", "minimum": 0},
            "flagged": {"type": "boolean"},
            "published": {"type": "number"},
            "lastComment": {"type": ["number", "null"], "description": "when it was last commented"},
            "generator": {
                "oneOf": [{"type": "null"}, {"type": "object", "required": ["objectType", "url"]}],
                "description": "the external feed a post came from",
            },
        },
    ),
    "ActivityPage": obj(
        ["items", "next"],
        {
            "items": array_of("Activity"),
            "next": {"type": ["string", "null"], "description": "the next page's cursor"},
        },
    ),
    "Notification": obj(
        ["id", "category", "message", "created_at", "unseen", "properties"],
        {
            "id": {
                "type": "string",
                "pattern": "^[0-9A-Za-z]{27}$",
                "description": "a KSUID: its order is time order",
            },
            "category": {"type": "string"},
            "message": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "unseen": {"type": "boolean"},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}},
            "notifications": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Notification"},
                "description": "older ones rolled up into this one",
            },
        },
    ),
    "Unseen": obj(["unseen"], {"unseen": {"type": "integer", "minimum": 0}}),
    "Comment": obj(
        ["objectType", "id", "activity", "actor", "content", "published"],
        {
            "objectType": {"const": "comment"},
            "id": ACTIVITY_ID,
            "activity": ACTIVITY_ID,
            "actor": obj(
                ["objectType", "username"],
                {"objectType": {"const": "person"}, "username": {"type": "string"}},
            ),
            "content": {"type": "string"},
            "published": {"type": "number"},
        },
    ),
    "Device": obj(
        ["objectType", "id", "platform", "token", "published"],
        {
            "objectType": {"const": "device"},
            "id": {"type": "string"},
            "platform": {"enum": ["ios", "android", "webpush"]},
            "token": {"type": "string"},
            "published": {"type": "number"},
        },
    ),
}

# What a request body may be, per operation.
NEW_CONVERSATION = obj(
    ["participants"],
    {
        "participants": {"type": "array", "items": USER_NAME, "minItems": 1, "maxItems": 199},
        "displayName": DISPLAY_NAME,
    },
    closed=False,
)
RENAME = obj(["displayName"], {"displayName": {**DISPLAY_NAME, "minLength": 1}}, closed=False)
A_USER = obj(["username"], {"username": USER_NAME}, closed=False)
DELIVER_AT = {"type": "string", "format": "date-time", "maxLength": 40, "description": "send then, not now"}
NEW_MESSAGE = {
    "anyOf": [
        obj(["data"], {"data": {"type": "object"}, "deliver_at": DELIVER_AT}, closed=False),
        obj(["text"], {"text": TEXT, "deliver_at": DELIVER_AT}, closed=False),
    ]
}
READ_UP_TO = obj(["id"], {"id": MESSAGE_ID}, closed=False)
NEW_DEVICE = {
    "anyOf": [
        obj(
            ["platform", "token"],
            {
                "platform": {"enum": ["ios", "android"]},
                "token": {"type": "string", "minLength": 1, "maxLength": 4096},
            },
            closed=False,
        ),
        obj(
            ["platform", "subscription"],
            {
                "platform": {"const": "webpush"},
                "subscription": obj(
                    ["endpoint", "keys"],
                    {
                        "endpoint": {"type": "string", "format": "uri", "pattern": "^https?://[^/?#\\[\\]]+"},
                        "keys": obj(
                            ["p256dh", "auth"],
                            {
                                "p256dh": {"type": "string", "minLength": 1, "maxLength": 4096},
                                "auth": {"type": "string", "minLength": 1, "maxLength": 4096},
                            },
                            closed=False,
                        ),
                    },
                    closed=False,
                ),
            },
            closed=False,
        ),
    ]
}
PERSON_UPDATE = obj(
    [],
    {
        "displayName": {"type": "string", "maxLength": 200},
        "avatar": {
            "anyOf": [
                {"type": "string", "format": "uri", "pattern": "^https?://[^/?#\\[\\]]+", "maxLength": 2048},
                {"const": ""},
                {"type": "null"},
            ]
        },
        "hidden": {"type": "boolean"},
    },
    closed=False,
)
PREFIX = {"type": "string", "maxLength": 64}
TAG = {"type": "string", "minLength": 1, "maxLength": 64}
TAGS = {"type": "array", "items": TAG, "maxItems": 50}
TAG_LIST = {
    "type": "string",
    "pattern": "^([^,]{1,64}(,[^,]{1,64}){0,49})?$",
    "description": "comma-separated tags (each 1 to 64 characters, at most 50)",
}
POLICIES = obj(
    [],
    {
        "read": {"enum": ["subscribed", "public"]},
        "write": {"enum": ["subscribed", "restricted", "public"]},
        "subscribe": {"enum": ["public", "restricted"]},
        "unsubscribe": {"enum": ["public", "restricted"]},
        **{name: {"enum": ["subscribed", "restricted"]} for name in ("invite", "kick", "delete", "flag")},
    },
)
CONTEXT_FIELDS = {
    "url": {"type": "string", "format": "uri", "pattern": "^https?://[^/?#\\[\\]]+", "maxLength": 2048},
    "displayName": {"type": "string", "maxLength": 200},
    "tags": TAGS,
    "preset": {"enum": ["open", "closed", "institutional"]},
    "permissions": POLICIES,
    "notifications": {"enum": ["none", "posts", "comments"]},
    "owner": USER_NAME,
}
NEW_POST = obj(
    ["content"], {"content": {"type": "string", "minLength": 1, "maxLength": 10_000}}, closed=False
)
NEW_CONTEXT = obj(["url"], CONTEXT_FIELDS, closed=False)
CONTEXT_UPDATE = obj([], CONTEXT_FIELDS, closed=False)
BROADCAST = obj(
    ["text"], {"text": TEXT, "context": {"type": "string", "minLength": 1, "maxLength": 200}}, closed=False
)


@dataclass(frozen=True)
class Describes:
    """How an operation is described: its body, its answer, its refusals."""

    success: int = 200
    response: dict[str, Any] | None = None  # schema of the success body; None for no body
    request: dict[str, Any] | None = None
    query: tuple[tuple[str, dict[str, Any], bool], ...] = ()  # (name, schema, required)
    errors: tuple[int, ...] = (400, 401, 403, 404)
    also: tuple[int, ...] = field(default=())  # other successes (200 beside a 201)
    form: dict[str, Any] | None = None  # schema of a multipart/form-data body (an upload)
    headers: tuple[tuple[str, dict[str, Any], bool], ...] = ()  # request headers: (name, schema, required)
    content_type: str = "application/json"  # of the success body


ERROR_WORDS = {
    400: "Bad input: the body says what",
    401: "No token, or not a valid one",
    403: "Not allowed for this user",
    404: "No such conversation, participant, device, person, context or subscription",
    409: "At a limit: the body says which",
    412: "X-Max-Compat-ID names another compatibility id than the hub's: the app needs updating",
    413: "The body is larger than the limit",
    416: "A Range of another unit than 'id'",
    429: "Faster than the caller's rate limit: Retry-After says when to come back",
    503: "The broker or the store is unavailable",
}


BINARY = {"type": "string", "format": "binary"}
UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {**BINARY, "description": "an image (JPEG, PNG, GIF, WebP) or any other file"},
        "content": {"type": "string", "maxLength": 10_000, "description": "words to go with it"},
    },
}


AVATAR_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {**BINARY, "description": "a JPEG, PNG, GIF or WebP picture"}},
}


COMPAT_ID = {
    "name": "X-Max-Compat-ID",
    "in": "header",
    "required": False,
    "description": "the app's compatibility id; another than the hub's (when it has one) gets 412",
}


def _parameters(path: str, query: tuple[tuple[str, dict[str, Any], bool], ...]) -> list[dict[str, Any]]:
    found = []
    for name, schema in (
        ("cid", CONVERSATION_ID),
        ("hash", CONTEXT_HASH),
        ("user", USER_NAME),
        ("device", {"type": "string"}),
        ("tag", TAG),
        ("id", ACTIVITY_ID),
        ("comment", ACTIVITY_ID),
        ("follow", {"type": "string", "maxLength": 32}),
        ("size", {"enum": ["mini", "normal", "large"]}),
        ("category", {"type": "string", "minLength": 1, "maxLength": 64}),
        (
            "permission",
            {"enum": ["read", "write", "subscribe", "unsubscribe", "invite", "kick", "delete", "flag"]},
        ),
    ):
        if "{" + name + "}" in path:
            found.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, schema, required in query:
        found.append({"name": name, "in": "query", "required": required, "schema": schema})
    return found


def _headers(headers: tuple[tuple[str, dict[str, Any], bool], ...]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "header", "required": required, "schema": schema}
        for name, schema, required in headers
    ]


def document(operations: list[Any], version: str, compat_id: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations` (each with method, path, handler, summary,
    describes), for a hub whose compatibility id is `compat_id` (None: it takes any)."""
    compat_header = {**COMPAT_ID, "schema": {"enum": [compat_id]} if compat_id else {"type": "string"}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        described: Describes = op.describes
        success: dict[str, Any] = {"description": "OK"}
        if described.response is not None:
            success["content"] = {described.content_type: {"schema": described.response}}
        responses: dict[str, Any] = {str(described.success): success}
        for status in described.also:
            responses[str(status)] = success
        takes_body = described.request is not None or described.form is not None
        errors = (*described.errors, 412, 429, 503) + ((413,) if takes_body else ())
        for status in sorted(set(errors)):
            responses[str(status)] = {
                "description": ERROR_WORDS[status],
                "content": {"application/json": {"schema": ref("Error")}},
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.handler.__name__,
            "parameters": [
                *_parameters(op.path, described.query),
                *_headers(described.headers),
                compat_header,
            ],
            "responses": responses,
            "security": [{"bearer": []}, {"maxOauth": []}],
        }
        bodies = {"application/json": described.request, "multipart/form-data": described.form}
        if takes_body:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    kind: {"schema": schema} for kind, schema in bodies.items() if schema is not None
                },
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "hutch", "version": version},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "maxOauth": {"type": "apiKey", "in": "header", "name": "X-Oauth-Token"},
            },
            "schemas": SCHEMAS,
        },
    }
