"""GET /api/presence: who is online."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.errors import Invalid
from hutch.hub.web.openapi import USER_LIST, Describes, ref
from hutch.hub.web.operations import Operation
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

from hutch.protocol import names


async def presence(request: Request, identity: Identity, node: HubNode) -> Response:
    users = [u for u in request.query_params.get("users", "").split(",") if u]
    if not users or len(users) > 500:
        raise Invalid("ask for ?users=a,b,c (at most 500)")
    for user in users:
        names.check_user(user)
    online = await node.stores.presence.online(users)
    return JSONResponse({u: {"online": n > 0, "devices": n} for u, n in online.items()})


OPERATIONS = [
    Operation(
        "GET", "/api/presence", presence, "Who of ?users=a,b is online (at most 500)",
        Describes(response=ref("Presence"), query=(("users", USER_LIST, True),), errors=(400, 401)),
    ),
]  # fmt: skip
