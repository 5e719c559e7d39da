"""Web Push (RFC 8030, 8291 aes128gcm, 8292 VAPID) through pywebpush."""

from __future__ import annotations

import json

import aiohttp
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification
from pywebpush import WebPushException, webpush_async


class WebPushProvider:
    platform = "webpush"

    def __init__(self, vapid_private_key: str, subject: str, *, timeout: float = 10.0):
        """`vapid_private_key`: a PEM file or the base64url private key; `subject`: mailto: or https: contact."""
        self.vapid_private_key = vapid_private_key
        self.subject = subject
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def send(self, device: Device, notification: Notification) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            await webpush_async(
                subscription_info={"endpoint": device.token, "keys": device.keys},
                data=json.dumps(notification.to_json()),
                vapid_private_key=self.vapid_private_key,
                vapid_claims={"sub": self.subject},  # a new dict: pywebpush fills in aud and exp
                ttl=notification.ttl,
                headers={"Urgency": notification.urgency_name},
                timeout=self.timeout,
                aiohttp_session=self._session,
            )
        except WebPushException as error:
            status = error.status_code
            if status in (404, 410):  # "the subscription has expired or is no longer valid"
                raise DeadToken(f"web push answered {status}") from None
            raise PushFailed(f"web push answered {status}: {str(error.message)[:200]}") from None
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            raise PushFailed(f"web push failed: {type(error).__name__}: {error}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
