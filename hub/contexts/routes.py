"""The contexts' REST routes: contexts and their tags, subscriptions, per-user permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hutch.hub.auth import Identity
from hutch.hub.contexts.model import ALLOWED, PERMISSIONS, PRESETS, Context, Notifications, Subscription
from hutch.hub.errors import Invalid, NotFound
from hutch.hub.web.openapi import (
    A_USER,
    CONTEXT_UPDATE,
    NEW_CONTEXT,
    TAG_LIST,
    TAGS,
    Describes,
    array_of,
    ref,
)
from hutch.hub.web.operations import Operation
from hutch.hub.web.requests import MAX_TEXT, body_of, is_web_url, json_of, user_field
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from hutch.hub.node import HubNode

MAX_URL = 2048
MAX_TAG, MAX_TAGS = 64, 50


# -- reading what a request says ---------------------------------------------


def hash_of(request: Request) -> str:
    """The context of the path; nothing that is not a SHA-1 in hex names one."""
    value = request.path_params["hash"]
    if len(value) != 40 or any(c not in "0123456789abcdef" for c in value):
        raise NotFound(f"there is no context '{value[:64]}'")
    return value


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL or not is_web_url(value):
        raise Invalid(f"'url' is an http(s) URL of at most {MAX_URL} characters")
    return value


def _tags(value: Any) -> list[str]:
    """Tags as given (each 1 to 64 characters, at most 50), each once."""
    if not (isinstance(value, list) and all(isinstance(t, str) and 0 < len(t) <= MAX_TAG for t in value)):
        raise Invalid(f"tags are a list of strings of 1 to {MAX_TAG} characters")
    tags = list(dict.fromkeys(value))
    if len(tags) > MAX_TAGS:
        raise Invalid(f"a context has at most {MAX_TAGS} tags")
    return tags


def _permissions(body: dict[str, Any], current: dict[str, str]) -> dict[str, str]:
    """A preset's policies, then any given one by one, each checked against what it may be."""
    permissions = dict(current)
    if "preset" in body:
        preset = body["preset"]
        if not isinstance(preset, str) or preset not in PRESETS:
            raise Invalid(f"'preset' is one of {', '.join(PRESETS)}")
        permissions = {name: policy.value for name, policy in PRESETS[preset].items()}
    given = body.get("permissions", {})
    if not isinstance(given, dict):
        raise Invalid("'permissions' is an object of permission -> policy")
    for name, policy in given.items():
        if name not in ALLOWED:
            raise Invalid(f"'{str(name)[:40]}' is not a permission: one of {', '.join(PERMISSIONS)}")
        allowed = [p.value for p in ALLOWED[name]]
        if policy not in allowed:
            raise Invalid(f"'{name}' is one of {', '.join(allowed)}")
        permissions[name] = policy
    return permissions


def _notifications(value: Any) -> str:
    if value not in [n.value for n in Notifications]:
        raise Invalid(f"'notifications' is one of {', '.join(n.value for n in Notifications)}")
    return str(value)


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Invalid(f"'displayName' is a string of at most {MAX_TEXT} characters")
    return value.strip()


def tags_of(request: Request) -> list[str]:
    """The `?tags=a,b` a listing is filtered by: all of them."""
    raw = request.query_params.get("tags", "")
    return _tags([t for t in raw.split(",") if t]) if raw else []


def subscription_json(context: Context, subscription: Subscription) -> dict[str, Any]:
    return {
        "objectType": "subscription",
        "hash": context.hash,
        "username": subscription.username,
        "permissions": subscription.permissions(context),
        "grants": subscription.grants,
        "vetoes": subscription.vetoes,
        "realtime": subscription.realtime,
        "push": subscription.push,
        "context": context.to_json(),
        "published": subscription.created,
    }


# -- handlers ----------------------------------------------------------------


async def create_context(request: Request, identity: Identity, node: HubNode) -> Response:
    body = await body_of(request)
    if "url" not in body:
        raise Invalid("a context needs its 'url'")
    context = Context(_url(body["url"]))
    if "displayName" in body:
        context.display_name = _display_name(body["displayName"])
    if "tags" in body:
        context.tags = _tags(body["tags"])
    context.permissions = _permissions(body, context.permissions)
    if "notifications" in body:
        context.notifications = _notifications(body["notifications"])
    if "owner" in body:
        context.owner = user_field(body, "owner")
    context, created = await node.contexts.create(identity, context)
    return JSONResponse(context.to_json(), status_code=201 if created else 200)


async def list_contexts(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse([c.to_json() for c in await node.contexts.all(identity, tags_of(request))])


async def public_contexts(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse([c.to_json() for c in await node.contexts.public()])


async def get_context(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse((await node.contexts.get(hash_of(request))).to_json())


async def update_context(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    body = await body_of(request)
    if "url" in body and body["url"] != context.url:
        raise Invalid("a context's url is its identity: create another context for another url")
    if "displayName" in body:
        context.display_name = _display_name(body["displayName"])
    if "tags" in body:
        context.tags = _tags(body["tags"])
    context.permissions = _permissions(body, context.permissions)
    if "notifications" in body:
        context.notifications = _notifications(body["notifications"])
    if "owner" in body:
        context.owner = user_field(body, "owner")
    return JSONResponse((await node.contexts.save(context)).to_json())


async def delete_context(request: Request, identity: Identity, node: HubNode) -> Response:
    await node.contexts.delete(identity, hash_of(request))
    return Response(status_code=204)


async def get_tags(request: Request, identity: Identity, node: HubNode) -> Response:
    return JSONResponse((await node.contexts.get(hash_of(request))).tags)


async def add_tags(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    context.tags = _tags(context.tags + _tags(await _json_list(request)))
    return JSONResponse((await node.contexts.save(context)).tags)


async def clear_tags(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    context.tags = []
    await node.contexts.save(context)
    return Response(status_code=204)


async def remove_tag(request: Request, identity: Identity, node: HubNode) -> Response:
    context = await node.contexts.managed(identity, hash_of(request))
    tag = request.path_params["tag"]
    if tag not in context.tags:
        raise NotFound(f"context '{context.hash}' has no tag '{tag[:MAX_TAG]}'")
    context.tags.remove(tag)
    await node.contexts.save(context)
    return Response(status_code=204)


async def subscribe(request: Request, identity: Identity, node: HubNode) -> Response:
    username = user_field(await body_of(request), "username")
    hash = hash_of(request)
    subscription, created = await node.contexts.subscribe(identity, hash, username)
    context = await node.contexts.get(hash)
    return JSONResponse(subscription_json(context, subscription), status_code=201 if created else 200)


async def unsubscribe(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    await node.contexts.unsubscribe(identity, hash_of(request), username)
    return Response(status_code=204)


async def list_subscribers(request: Request, identity: Identity, node: HubNode) -> Response:
    context, subscriptions = await node.contexts.subscribers(identity, hash_of(request))
    return JSONResponse([subscription_json(context, s) for s in subscriptions])


async def list_subscriptions_of(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    found = await node.contexts.subscriptions_of(identity, username, tags_of(request))
    return JSONResponse([subscription_json(c, s) for c, s in found])


async def grant_permission(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _set_permission(request, identity, node, granted=True)


async def veto_permission(request: Request, identity: Identity, node: HubNode) -> Response:
    return await _set_permission(request, identity, node, granted=False)


async def _set_permission(request: Request, identity: Identity, node: HubNode, *, granted: bool) -> Response:
    username = names.check_user(request.path_params["user"])
    subscription, context, changed = await node.contexts.set_permission(
        identity, hash_of(request), username, request.path_params["permission"], granted=granted
    )
    return JSONResponse(subscription_json(context, subscription), status_code=201 if changed else 200)


async def set_preferences(request: Request, identity: Identity, node: HubNode) -> Response:
    body = await body_of(request)
    unknown = set(body) - set(PREFERENCE_NAMES)
    if unknown or not body or not all(isinstance(value, bool) for value in body.values()):
        raise Invalid(f"preferences are {' and/or '.join(PREFERENCE_NAMES)}, each true or false")
    username = names.check_user(request.path_params["user"])
    subscription, context = await node.contexts.set_preferences(identity, hash_of(request), username, body)
    return JSONResponse(subscription_json(context, subscription))


async def reset_permissions(request: Request, identity: Identity, node: HubNode) -> Response:
    username = names.check_user(request.path_params["user"])
    subscription, context = await node.contexts.reset_permissions(identity, hash_of(request), username)
    return JSONResponse(subscription_json(context, subscription))


async def _json_list(request: Request) -> list[Any]:
    """A body that is a JSON list (tags), read within the same bounds as any body."""
    body = await json_of(request)
    if not isinstance(body, list):
        raise Invalid("the body is a JSON list of tags")
    return body


CONTEXT, CONTEXTS, SUBSCRIPTION = ref("Context"), array_of("Context"), ref("Subscription")
TAG_QUERY = (("tags", TAG_LIST, False),)
PREFERENCE_NAMES = ("realtime", "push")
PREFERENCES = {
    "type": "object",
    "properties": {name: {"type": "boolean"} for name in PREFERENCE_NAMES},
    "additionalProperties": False,
    "minProperties": 1,
}

OPERATIONS = [
    Operation(
        "POST", "/api/contexts", create_context, "Create a context (admins; its URL again: 200 and the existing one)",
        Describes(201, CONTEXT, NEW_CONTEXT, also=(200,), errors=(400, 401, 403)),
    ),
    Operation(
        "GET", "/api/contexts", list_contexts, "Every context, by URL, with all of ?tags=a,b (admins)",
        Describes(response=CONTEXTS, query=TAG_QUERY, errors=(400, 401, 403)),
    ),
    Operation(
        "GET", "/api/contexts/public", public_contexts, "The contexts anyone may join",
        Describes(response=CONTEXTS, errors=(401,)),
    ),
    Operation(
        "GET", "/api/contexts/{hash}", get_context, "One context", Describes(response=CONTEXT, errors=(401, 404)),
    ),
    Operation(
        "PUT", "/api/contexts/{hash}", update_context, "Change a context (its owner or an admin)",
        Describes(response=CONTEXT, request=CONTEXT_UPDATE, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}", delete_context, "Delete a context and its subscriptions (owner or admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
    Operation(
        "GET", "/api/contexts/{hash}/tags", get_tags, "A context's tags", Describes(response=TAGS, errors=(401, 404)),
    ),
    Operation(
        "PUT", "/api/contexts/{hash}/tags", add_tags, "Add tags (owner or admin)",
        Describes(response=TAGS, request=TAGS, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}/tags", clear_tags, "Remove every tag (owner or admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}/tags/{tag}", remove_tag, "Remove one tag (owner or admin)",
        Describes(204, errors=(401, 403, 404)),
    ),
    Operation(
        "POST", "/api/contexts/{hash}/subscriptions", subscribe,
        "Subscribe someone: oneself where subscribe is public, others with invite, or the owner or an admin",
        Describes(201, SUBSCRIPTION, A_USER, also=(200,), errors=(400, 401, 403, 404)),
    ),
    Operation(
        "GET", "/api/contexts/{hash}/subscriptions", list_subscribers, "A context's subscribers (owner or admin)",
        Describes(response=array_of("Subscription"), errors=(401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}/subscriptions/{user}", unsubscribe,
        "Unsubscribe: oneself with unsubscribe, others with kick, or the owner or an admin",
        Describes(204, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "PUT", "/api/contexts/{hash}/subscriptions/{user}", set_preferences,
        "A subscriber's choices: the context's news live (realtime) and as pushes when offline (the user or an admin)",
        Describes(response=SUBSCRIPTION, request=PREFERENCES, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "PUT", "/api/contexts/{hash}/permissions/{user}/{permission}", grant_permission,
        "Grant a subscriber one permission, whatever the policy (owner or admin; 201 when it changed)",
        Describes(response=SUBSCRIPTION, also=(201,), errors=(400, 401, 403, 404)),
    ),
    Operation(
        "DELETE", "/api/contexts/{hash}/permissions/{user}/{permission}", veto_permission,
        "Take one permission from a subscriber, whatever the policy (owner or admin; 201 when it changed)",
        Describes(response=SUBSCRIPTION, also=(201,), errors=(400, 401, 403, 404)),
    ),
    Operation(
        "POST", "/api/contexts/{hash}/permissions/{user}/defaults", reset_permissions,
        "Back to the context's policy for a subscriber (owner or admin)",
        Describes(response=SUBSCRIPTION, errors=(400, 401, 403, 404)),
    ),
    Operation(
        "GET", "/api/people/{user}/subscriptions", list_subscriptions_of,
        "A user's subscriptions, with all of ?tags=a,b (the user or an admin)",
        Describes(response=array_of("Subscription"), query=TAG_QUERY, errors=(400, 401, 403)),
    ),
]  # fmt: skip
