"""What every REST route shares: who is calling, the JSON body read within bounds, its
fields checked, and every refusal answered with its MAX error body.

Callers authenticate with `Authorization: Bearer <token>` or the MAX headers
`X-Oauth-Token` and `X-Oauth-Username`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from hutch.hub.auth import Identity
from hutch.hub.broker.errors import BrokerError
from hutch.hub.errors import Invalid, Refused, TooLarge, TooManyRequests, Unauthorized, Unavailable
from hutch.hub.messages import payload
from hutch.hub.store.errors import StoreUnavailable
from hutch.protocol import names, whole_number
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

Handler = Callable[[Request, Identity, "HubNode"], Awaitable[Response]]


def error_response(refused: Refused) -> JSONResponse:
    return JSONResponse(refused.body(), status_code=refused.status, headers=refused.headers())


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
            "send Authorization: Bearer <token>, or X-Oauth-Token and X-Oauth-Username",
            status=401,
            error="Unauthorized",
        )
    identity = await node.authenticator.authenticate(login, token)
    if identity is None:
        raise Unauthorized("the token is not valid: expired, forged or unknown")
    try:
        names.check_user(identity.user)
    except names.BadName as error:
        raise Unauthorized(f"the token names no valid user: {error}") from None
    return identity


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        node = request.app.state.node
        try:
            check_compat_id(request, node.settings.max_compat_id)
            identity = await identity_of(request, node)
            if (wait := node.rest_limits.retry_after(identity.user, time.monotonic())) is not None:
                node.metrics.count("rate_limited", "rest")
                raise TooManyRequests(
                    f"more than {node.settings.rest_rate:g} requests a second (bursts up to "
                    f"{node.settings.rest_burst:g}): try again in {wait} s",
                    wait,
                )
            return await handler(request, identity, node)
        except Refused as refused:
            return error_response(refused)
        except names.BadName as error:
            return error_response(Invalid(str(error)))
        except BrokerError as error:
            return error_response(Unavailable(f"the broker is unavailable: {error}"))
        except StoreUnavailable as error:
            return error_response(Unavailable(f"the store is unavailable: {error}"))

    return run


def check_compat_id(request: Request, expected: str | None) -> None:
    """MAX's switch for cutting old apps off: a request naming another `X-Max-Compat-ID` than the
    hub's gets 412; one naming none passes."""
    given = request.headers.get("x-max-compat-id")
    if expected is not None and given is not None and given != expected:
        raise Refused(
            f"this hub serves clients of compatibility id '{expected}', not '{given[:64]}': update the app",
            status=412,
            error="CompatibilityIDMismatch",
        )


async def body_of(request: Request) -> dict[str, Any]:
    """The JSON object of the body: at most `max_request_body` bytes (413), finite numbers of at
    most 64 bits and 32 levels deep (400), so that nothing stored fails to read back."""
    value = await json_of(request)
    if not isinstance(value, dict):
        raise Invalid("the body must be a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent as multipart/form-data, and the form's text fields."""

    data: bytes
    filename: str  # the last part of the name the client gave, at most 255 characters
    fields: dict[str, str]


async def upload_of(request: Request, field: str = "file") -> Upload:
    """The one file of a form, within `max_upload` bytes for the whole form (413). The length
    is checked before anything is read, so the request must say it (browsers do)."""
    limit = request.app.state.node.settings.max_upload
    declared = request.headers.get("content-length", "")
    if not (declared.isascii() and declared.isdigit()):
        raise Invalid("an upload says its Content-Length")
    if int(declared) > limit:
        raise TooLarge(f"an upload is at most {limit} bytes")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except HTTPException as error:  # not a form, or one past its bounds
        raise Invalid(f"not a form this hub takes: {error.detail}") from None
    try:
        file = form.get(field)
        if not isinstance(file, UploadFile):
            raise Invalid(f"the form has its file in '{field}'")
        data = await file.read()
        name = PurePosixPath((file.filename or "").replace("\\", "/")).name[-255:]
        return Upload(data, name, {key: value for key, value in form.items() if isinstance(value, str)})
    finally:
        await form.close()


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def json_of(request: Request) -> Any:
    """The JSON value of the body, within the bounds `body_of` says."""
    settings = request.app.state.node.settings
    limit = settings.max_request_body
    too_large = TooLarge(f"the body is larger than {limit} bytes")
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
        raise Invalid(f"the body is not valid JSON: {error}") from None
    except payload.BadPayload as error:
        raise Invalid(f"the body holds {error}") from None
    return value


MAX_TEXT = 200  # characters of a display name, a context key
MAX_MESSAGE_TEXT = 10_000


def text_field(body: dict[str, Any], name: str, longest: int = MAX_TEXT) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > longest:
        raise Invalid(f"'{name}' must be a string of 1 to {longest} characters")
    return value


def user_field(body: dict[str, Any], name: str) -> str:
    return names.check_user(text_field(body, name))


def limit_of(request: Request, default: int, most: int) -> int:
    """The `?limit=` of a listing: a whole number from 1 to `most`, `default` when absent."""
    limit = whole_number(request.query_params.get("limit", str(default)), most)
    if not limit:
        raise Invalid(f"limit is a whole number between 1 and {most}")
    return limit


def is_web_url(url: str) -> bool:
    """An http(s) URL with a host (push endpoints, avatars, context URLs)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[" and the like
        return False
