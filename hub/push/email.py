"""E-mail, over SMTP (aiosmtplib), for the `email` channel: one plain-text message per push.

A recipient the server refuses for good (a 5xx answer to RCPT TO: no such mailbox) is a dead
address, which the bridge forgets; anything else (4xx, a lost connection) is tried again.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification

# RFC 8030's levels, as the X-Priority mail clients show (1 highest .. 5 lowest).
_PRIORITY = {1: "5", 2: "4", 3: "3", 4: "1"}


class EmailProvider:
    platform = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
    ):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls = starttls
        self.timeout = timeout

    def message(self, device: Device, notification: Notification) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = device.token
        message["Subject"] = f"{notification.title}: {notification.body}"[:200].replace("\n", " ")
        message["X-Priority"] = _PRIORITY[notification.urgency]
        message["X-Hutch-Message"] = notification.message_id
        message.set_content(notification.body)
        return message

    async def send(self, device: Device, notification: Notification) -> None:
        try:
            await aiosmtplib.send(
                self.message(device, notification),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=None if self.starttls else False,  # None: when the server offers it
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise DeadToken(f"the mail server refuses {device.token}: {codes}") from None
            raise PushFailed(f"the mail server refused for now: {codes}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise PushFailed(f"e-mail failed: {type(error).__name__}: {error}") from None

    async def close(self) -> None:
        pass
