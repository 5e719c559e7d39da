"""The people's REST routes: the directory, and each person's profile.

Anyone signed in reads profiles and searches the directory; a hidden person is left out of
other people's searches (admins and hidden people see everyone). A profile is written by its
person or an admin; only an admin hides or shows someone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any

from hutch.hub.auth import Identity
from hutch.hub.errors import Forbidden, Invalid, NotFound
from hutch.hub.media.images import Picture
from hutch.hub.people.model import Person
from hutch.hub.web.openapi import AVATAR_UPLOAD, BINARY, PERSON_UPDATE, PREFIX, Describes, array_of, ref
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import MAX_TEXT, body_of, is_web_url, limit_of, upload_of
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

MAX_PREFIX = 64  # characters of a directory search
MAX_AVATAR_URL = 2048
AVATAR_SIZES = {"mini": 24, "normal": 96, "large": 250}  # pixels, the longer side
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


async def search_people(request: Request, identity: Identity, node: HubNode) -> Response:
    query = request.query_params
    prefix = query.get("q", "").strip().lower()
    if len(prefix) > MAX_PREFIX:
        raise Invalid(f"'q' is at most {MAX_PREFIX} characters")
    limit = limit_of(request, DEFAULT_LIMIT, MAX_LIMIT)
    me = await node.stores.people.get(identity.user)
    sees_hidden = identity.is_admin or (me is not None and me.hidden)
    found = await node.stores.people.search(prefix, limit, include_hidden=sees_hidden)
    return JSONResponse([person.to_json() for person in found])


async def get_person(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    person = await node.stores.people.get(username)
    if person is None:
        raise NotFound(f"there is no person '{username}'")
    return JSONResponse(person.to_json())


async def put_person(request: Request, identity: Identity, node: HubNode) -> Response:
    username = _own(request, identity)
    body = await body_of(request)
    person = await node.stores.people.get(username) or Person(username, created=time.time())
    if "displayName" in body:
        person.display_name = _text(body, "displayName", MAX_TEXT)
    if "avatar" in body:
        person.avatar = _avatar(body["avatar"])
        person.picture = False  # a URL given: the uploaded picture is no longer shown
    if "hidden" in body:
        if not isinstance(body["hidden"], bool):
            raise Invalid("'hidden' is true or false")
        if body["hidden"] != person.hidden and not identity.is_admin:
            raise Forbidden("only admins hide or show people")
        person.hidden = body["hidden"]
    new = await node.stores.people.put(person)
    return JSONResponse(person.to_json(), status_code=201 if new else 200)


async def put_avatar(request: Request, identity: Identity, node: HubNode) -> Response:
    """An uploaded picture, kept in the avatar sizes (square PNGs at most); it takes the place
    of an avatar URL."""
    username = _own(request, identity)
    upload = await upload_of(request)
    picture = Picture.of(upload.data)
    if picture is None:
        raise Invalid("an avatar is a JPEG, PNG, GIF or WebP picture")
    scaled = {size: await asyncio.to_thread(picture.scaled, box) for size, box in AVATAR_SIZES.items()}
    person = await node.stores.people.get(username) or Person(username, created=time.time())
    for size, data in scaled.items():
        await node.media.put(f"{avatar_folder(username)}/{size}", data)
    person.picture, person.avatar = True, ""
    new = await node.stores.people.put(person)
    return JSONResponse(person.to_json(), status_code=201 if new else 200)


async def get_avatar(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    size = request.path_params.get("size", "normal")
    if size not in AVATAR_SIZES:
        raise NotFound(f"avatars come in {', '.join(AVATAR_SIZES)}")
    person = await node.stores.people.get(username)
    data = await node.media.get(f"{avatar_folder(username)}/{size}") if person and person.picture else None
    if data is None:
        raise NotFound(f"'{username}' has no uploaded avatar")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"}
    return Response(data, media_type="image/png", headers=headers)


async def get_avatar_in_size(request: Request, identity: Identity, node: HubNode) -> Response:
    return await get_avatar(request, identity, node)


async def delete_avatar(request: Request, identity: Identity, node: HubNode) -> Response:
    username = _own(request, identity)
    person = await node.stores.people.get(username)
    if person is None or not person.picture:
        raise NotFound(f"'{username}' has no uploaded avatar")
    person.picture = False
    await node.stores.people.put(person)
    await node.media.delete(avatar_folder(username))
    return Response(status_code=204)


def avatar_folder(username: str) -> str:
    """Named by a digest: a username may be any script's letters, or dots, never a path."""
    return f"avatars/{hashlib.sha256(username.encode()).hexdigest()[:32]}"


def _own(request: Request, identity: Identity) -> str:
    username = names.check_user(request.path_params["user"])
    if username != identity.user and not identity.is_admin:
        raise Forbidden("a profile is written by its person or an admin")
    return username


def _text(body: dict[str, Any], name: str, longest: int) -> str:
    """A string of at most `longest` characters; an empty one unsets the field (as MAX)."""
    value = body[name]
    if not isinstance(value, str) or len(value) > longest:
        raise Invalid(f"'{name}' must be a string of at most {longest} characters")
    return value.strip()


def _avatar(value: Any) -> str:
    if value == "" or value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_AVATAR_URL or not is_web_url(value):
        raise Invalid(f"'avatar' is an http(s) URL of at most {MAX_AVATAR_URL} characters, or empty")
    return value


OPERATIONS = [
    Operation(
        "GET", "/api/people", search_people, "The directory: people whose name or username starts with ?q=",
        Describes(
            response=array_of("Person"),
            query=(
                ("q", PREFIX, False),
                ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, False),
            ),
            errors=(400, 401),
        ),
    ),
    Operation(
        "GET", "/api/people/{user}", get_person, "One person's profile",
        Describes(response=ref("Person"), errors=(400, 401, 404)),
    ),
    Operation(
        "PUT", "/api/people/{user}", put_person, "Write a profile (its person or an admin; 201 when new)",
        Describes(response=ref("Person"), request=PERSON_UPDATE, also=(201,), errors=(400, 401, 403)),
    ),
    Operation(
        "PUT", "/api/people/{user}/avatar", put_avatar,
        "Upload an avatar picture as form field 'file' (its person or an admin; 201 for a new profile)",
        Describes(response=ref("Person"), also=(201,), errors=(400, 401, 403), form=AVATAR_UPLOAD),
    ),
    Operation(
        "GET", "/api/people/{user}/avatar", get_avatar, "An uploaded avatar, 96 pixels (PNG)",
        Describes(response=BINARY, content_type="image/png", errors=(400, 401, 404)),
    ),
    Operation(
        "GET", "/api/people/{user}/avatar/{size}", get_avatar_in_size, "An uploaded avatar in a size: mini, normal, large",
        Describes(response=BINARY, content_type="image/png", errors=(400, 401, 404)),
    ),
    Operation(
        "DELETE", "/api/people/{user}/avatar", delete_avatar, "Remove an uploaded avatar (its person or an admin)",
        Describes(204, errors=(400, 401, 403, 404)),
    ),
]  # fmt: skip
