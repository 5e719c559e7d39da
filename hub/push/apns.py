"""Apple Push Notification service over HTTP/2, token-based (ES256 JWT), for `ios` devices."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification

TOKEN_LIFETIME = (
    50 * 60
)  # APNs refuses provider tokens older than an hour, and refreshes more often than 20 min
DEAD_REASONS = {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}


class ApnsProvider:
    platform = "ios"

    def __init__(
        self, endpoint: str, *, team_id: str, key_id: str, key_file: Path, topic: str, timeout: float = 10.0
    ):
        self.endpoint = endpoint.rstrip("/")
        self.team_id = team_id
        self.key_id = key_id
        self.key = key_file.read_text()
        self.topic = topic  # the app's bundle id
        # HTTP/2 only, as APNs speaks: ALPN h2 over TLS, prior knowledge over plain http (tests)
        self.http = httpx.AsyncClient(http1=False, http2=True, timeout=timeout)
        self._token: tuple[str, float] | None = None

    def provider_token(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] < now - TOKEN_LIFETIME:
            token = jwt.encode(
                {"iss": self.team_id, "iat": int(now)},
                self.key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._token = (token, now)
        return self._token[0]

    async def send(self, device: Device, notification: Notification) -> None:
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10" if notification.urgency >= 3 else "5",
            "apns-expiration": str(int(time.time()) + notification.ttl),
        }
        try:
            response = await self.http.post(
                f"{self.endpoint}/3/device/{device.token}", json=self.payload(notification), headers=headers
            )
        except httpx.HTTPError as error:
            raise PushFailed(f"apns failed: {type(error).__name__}: {error}") from None
        if response.status_code == 200:
            return
        reason = _reason(response)
        if response.status_code == 410 or reason in DEAD_REASONS:
            raise DeadToken(f"apns answered {response.status_code} {reason}")
        raise PushFailed(f"apns answered {response.status_code} {reason}")

    @staticmethod
    def payload(notification: Notification) -> dict[str, Any]:
        return {
            "aps": {
                "alert": {"title": notification.title, "body": notification.body},
                "thread-id": notification.conversation or notification.context,
            },
            "conversation": notification.conversation,
            "context": notification.context,
            "id": notification.message_id,
        }

    async def close(self) -> None:
        await self.http.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except ValueError:
        return ""
