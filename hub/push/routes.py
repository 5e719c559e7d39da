"""The push devices' REST routes: register, list and forget the devices a user is pushed to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.errors import Conflict, NotFound
from hutch.hub.push.devices import device_from_body, device_json
from hutch.hub.web.openapi import NEW_DEVICE, Describes, array_of, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import body_of
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

MAX_DEVICES = 50  # push devices per user


async def register_device(request: Request, identity: Identity, node: HubNode) -> Response:
    device = device_from_body(identity.user, await body_of(request))
    known = await node.stores.devices.of(identity.user)
    if len(known) >= MAX_DEVICES and device.id not in {d.id for d in known}:
        raise Conflict(f"at most {MAX_DEVICES} devices; remove one first")
    new = await node.stores.devices.add(device)
    return JSONResponse(device_json(device), status_code=201 if new else 200)


async def list_devices(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse([device_json(d) for d in await node.stores.devices.of(identity.user)])


async def remove_device(request: Request, identity: Identity, node: HubNode) -> Response:
    if not await node.stores.devices.remove(identity.user, request.path_params["device"]):
        raise NotFound("no such device of yours")
    return Response(status_code=204)


OPERATIONS = [
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
]  # fmt: skip
