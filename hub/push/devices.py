"""Devices to push to: app tokens (`ios`, `android`) and W3C Web Push subscriptions.

A registration body is `{"platform": "ios"|"android", "token": ...}` or
`{"platform": "webpush", "subscription": {"endpoint", "keys": {"p256dh", "auth"}}}`;
msgxc's enlist shapes (`{"os", "token"}`, a bare PushSubscription) are taken too.
A device's id is a digest of what it is, so registering it again changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from hutch.hub.errors import Invalid
from hutch.hub.web.requests import is_web_url

PLATFORMS = ("ios", "android", "webpush")
MAX_TOKEN = 4096  # characters of a push token, a Web Push endpoint or key


@dataclass(slots=True)
class Device:
    """A phone or a browser to notify while its user is offline."""

    id: str
    user: str
    platform: str  # ios, android or webpush
    token: str  # the app's push token, or the Web Push endpoint
    keys: dict[str, str] = field(default_factory=dict)  # Web Push: p256dh and auth
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def device_from_body(user: str, body: dict[str, Any]) -> Device:
    subscription = body.get("subscription", body if "endpoint" in body else None)
    platform = body.get("platform", body.get("os", "webpush" if subscription else None))
    if platform not in PLATFORMS:
        raise Invalid(f"'platform' is one of {', '.join(PLATFORMS)}")
    if platform == "webpush":
        token, keys = _web_push_subscription(subscription)
    else:
        token, keys = body.get("token"), {}
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise Invalid(
                f"an {platform} device needs its push 'token' (at most {MAX_TOKEN} characters)",
            )
    digest = hashlib.sha256(f"{platform}\n{token}".encode()).hexdigest()[:20]
    return Device(digest, user, platform, token, keys, time.time())


def _web_push_subscription(subscription: Any) -> tuple[str, dict[str, str]]:
    shape = 'a webpush device needs "subscription": {"endpoint", "keys": {"p256dh", "auth"}}'
    if not isinstance(subscription, dict):
        raise Invalid(shape)
    endpoint, keys = subscription.get("endpoint"), subscription.get("keys")
    if not isinstance(endpoint, str) or len(endpoint) > MAX_TOKEN or not is_web_url(endpoint):
        raise Invalid(f"{shape}; the endpoint is an http(s) URL")
    if not isinstance(keys, dict) or not all(
        isinstance(keys.get(k), str) and 0 < len(keys[k]) <= MAX_TOKEN for k in ("p256dh", "auth")
    ):
        raise Invalid(shape)
    return endpoint, {"p256dh": keys["p256dh"], "auth": keys["auth"]}


def device_json(device: Device) -> dict[str, Any]:
    """A device as the API shows it: Web Push keys stay on the server."""
    return {
        "objectType": "device",
        "id": device.id,
        "platform": device.platform,
        "token": device.token,
        "published": device.created,
    }
