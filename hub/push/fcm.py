"""Firebase Cloud Messaging, HTTP v1 API, for `android` devices.

The access token comes from a service account file (the JSON Google hands out:
client_email, private_key, token_uri), exchanged as RFC 7523 JWT bearer grant
and kept until shortly before it expires; or from a fixed token for tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class ServiceAccount:
    def __init__(self, path: Path):
        info = json.loads(path.read_text())
        self.email: str = info["client_email"]
        self.private_key: str = info["private_key"]
        self.token_uri: str = info.get("token_uri", "https://oauth2.googleapis.com/token")
        self.project_id: str | None = info.get("project_id")
        self._token: tuple[str, float] | None = None

    async def access_token(self, http: httpx.AsyncClient) -> str:
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        claims = {"iss": self.email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600}
        assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
        response = await http.post(self.token_uri, data={"grant_type": GRANT, "assertion": assertion})
        if response.status_code != 200:
            raise PushFailed(f"fcm token exchange answered {response.status_code}: {response.text[:200]}")
        answer = response.json()
        self._token = (answer["access_token"], now + float(answer.get("expires_in", 3600)))
        return self._token[0]


class FcmProvider:
    platform = "android"

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        *,
        service_account: ServiceAccount | None = None,
        access_token: str | None = None,
        timeout: float = 10.0,
    ):
        if service_account is None and access_token is None:
            raise ValueError("FCM needs a service account file or an access token")
        self.url = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.service_account = service_account
        self.fixed_token = access_token
        self.http = httpx.AsyncClient(timeout=timeout)

    async def send(self, device: Device, notification: Notification) -> None:
        token = self.fixed_token or await self.service_account.access_token(self.http)  # type: ignore[union-attr]
        try:
            response = await self.http.post(
                self.url,
                json=self.request_body(device, notification),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise PushFailed(f"fcm failed: {type(error).__name__}: {error}") from None
        if response.status_code == 200:
            return
        if response.status_code == 404 or _error_code(response) == "UNREGISTERED":
            raise DeadToken(f"fcm answered {response.status_code}: the token is not registered")
        raise PushFailed(f"fcm answered {response.status_code}: {response.text[:200]}")

    @staticmethod
    def request_body(device: Device, notification: Notification) -> dict[str, Any]:
        return {
            "message": {
                "token": device.token,
                "notification": {"title": notification.title, "body": notification.body},
                "data": {
                    "conversation": notification.conversation,
                    "context": notification.context,
                    "id": notification.message_id,
                },
                "android": {
                    "priority": "high" if notification.urgency >= 3 else "normal",
                    "ttl": f"{notification.ttl}s",
                },
            }
        }

    async def close(self) -> None:
        await self.http.aclose()


def _error_code(response: httpx.Response) -> str | None:
    """FCM's `errorCode` from the error details (google.firebase.fcm.v1.FcmError)."""
    try:
        details = response.json()["error"].get("details", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return next((d.get("errorCode") for d in details if isinstance(d, dict) and "errorCode" in d), None)
