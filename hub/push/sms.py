"""SMS through a Twilio-style Messages API, for the `sms` channel.

    POST {endpoint}/2010-04-01/Accounts/{sid}/Messages.json   (form: To, From, Body; basic auth)

2xx is sent. A 4xx naming a number that can never take a text (Twilio 21211 not a valid
number, 21614 not a mobile, 21610 the recipient unsubscribed) is a dead address; 429, 5xx and
timeouts are tried again; any other answer is a failure (tried again, then dead-lettered).
"""

from __future__ import annotations

import httpx
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification

DEAD_NUMBER_CODES = {21211, 21614, 21610}
MAX_BODY = 1600  # characters of one message (Twilio's limit)


class SmsProvider:
    platform = "sms"

    def __init__(
        self, endpoint: str, account_sid: str, auth_token: str, sender: str, *, timeout: float = 10.0
    ):
        self.url = f"{endpoint.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = sender
        self.http = httpx.AsyncClient(timeout=timeout, auth=(account_sid, auth_token))

    async def send(self, device: Device, notification: Notification) -> None:
        text = f"{notification.title}: {notification.body}"[:MAX_BODY]
        try:
            response = await self.http.post(
                self.url, data={"To": device.token, "From": self.sender, "Body": text}
            )
        except httpx.HTTPError as error:
            raise PushFailed(f"sms failed: {type(error).__name__}: {error}") from None
        if response.is_success:
            return
        if 400 <= response.status_code < 500 and _code(response) in DEAD_NUMBER_CODES:
            raise DeadToken(f"the sms service cannot reach {device.token}: {response.text[:200]}")
        raise PushFailed(f"the sms service answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self.http.aclose()


def _code(response: httpx.Response) -> int | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
