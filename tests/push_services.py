"""Loopback servers that play Web Push, FCM and APNs, for the push bridge's tests.

One Starlette app served by hypercorn (HTTP/1.1, and HTTP/2 with prior knowledge as
APNs wants) answers at
    /wp/<id>                                 a Web Push endpoint: checks VAPID, decrypts aes128gcm
    /token                                   the OAuth token endpoint of the FCM service account
    /v1/projects/<project>/messages:send     FCM HTTP v1
    /3/device/<token>                        APNs
    /2010-04-01/Accounts/<sid>/Messages.json an SMS service (Twilio's Messages API)
and an SMTP server (aiosmtpd) takes e-mail, refusing for good the mailboxes of `dead_mailboxes`.
Each records what it received; `answers[key]` queues statuses to answer instead of success
(key: the Web Push id, the FCM or APNs token), `delays[service]` holds answers back.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import os
import secrets
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Received:
    service: str  # webpush, fcm, apns, sms or email
    key: str  # the Web Push id, the device token, the phone number or the mail address
    headers: dict[str, str]
    http_version: str
    payload: Any = None  # the decrypted Web Push payload, or the JSON body


@dataclass
class WebPushReceiver:
    """A browser's side of a push subscription: its key pair and auth secret."""

    id: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, base_url: str) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{base_url}/wp/{self.id}",
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }


class PushServices:
    def __init__(self, directory: Path, port: int):
        self.base_url = f"http://127.0.0.1:{port}"
        self.port = port
        self.received: list[Received] = []
        self.refused: list[str] = []  # requests that broke the service's rules, and why
        self.answers: dict[str, list[int]] = {}
        self.delays: dict[str, float] = {}
        self.answered: collections.Counter[str] = collections.Counter()  # per service, after its delay
        self.receivers: dict[str, WebPushReceiver] = {}
        # Credentials the bridge is configured with, and what the fakes check them against.
        vapid = ec.generate_private_key(ec.SECP256R1())
        self.vapid_key_file = directory / "vapid.pem"
        self.vapid_key_file.write_text(pem(vapid))
        self.fcm_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.service_account_file = directory / "service-account.json"
        self.service_account_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "hutch-test",
                    "client_email": "push@hutch-test.iam.example",
                    "private_key": pem(self.fcm_key),
                    "token_uri": f"{self.base_url}/token",
                }
            )
        )
        self.fcm_tokens: set[str] = set()
        self.apns_key = ec.generate_private_key(ec.SECP256R1())
        self.apns_key_file = directory / "AuthKey.p8"
        self.apns_key_file.write_text(pem(self.apns_key))
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.sms_sid, self.sms_token, self.sms_from = (
            "AC" + secrets.token_hex(16),
            secrets.token_hex(16),
            "+15005550006",
        )
        self.dead_numbers: set[str] = set()
        self.dead_mailboxes: set[str] = set()
        self.smtp = Controller(_Mailbox(self), hostname="127.0.0.1", port=_free_port())

    def settings(self) -> dict[str, Any]:
        """The hub settings that point a bridge at these services."""
        return {
            "webpush_vapid_key": str(self.vapid_key_file),
            "webpush_subject": "mailto:ops@hutch.example",
            "fcm_endpoint": self.base_url,
            "fcm_project_id": "hutch-test",
            "fcm_service_account_file": self.service_account_file,
            "apns_endpoint": self.base_url,
            "apns_team_id": "TEAM123456",
            "apns_key_id": "KEY1234567",
            "apns_key_file": self.apns_key_file,
            "apns_topic": "example.hutch.app",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port,
            "smtp_from": "hutch@hutch.example",
            "smtp_starttls": False,
            "sms_endpoint": self.base_url,
            "sms_account_sid": self.sms_sid,
            "sms_auth_token": self.sms_token,
            "sms_from": self.sms_from,
        }

    @property
    def smtp_port(self) -> int:
        if self.smtp.server is None:  # the port is known once it listens: the tests' settings need it
            self.smtp.start()
        return self.smtp.port

    def close(self) -> None:
        """Stop the SMTP server (its thread would keep the test run from ending)."""
        if self.smtp.server is not None:
            self.smtp.stop()

    def new_receiver(self) -> WebPushReceiver:
        receiver = WebPushReceiver(secrets.token_hex(6))
        self.receivers[receiver.id] = receiver
        return receiver

    def of(self, service: str, key: str | None = None) -> list[Received]:
        return [r for r in self.received if r.service == service and (key is None or r.key == key)]

    async def start(self) -> PushServices:
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.loglevel = "WARNING"
        self._stop = asyncio.Event()  # one per test: each has its own event loop
        self._task = asyncio.create_task(serve(self.app(), config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError("the push services did not start")

    async def stop(self) -> None:
        assert self._stop is not None
        self._stop.set()
        if self._task is not None:
            # hypercorn may raise as it shuts down on an HTTP/2 stream a client reset: what the
            # services received is checked by the tests, not how their server ended.
            with contextlib.suppress(Exception):
                await self._task

    # -- the services ----------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/wp/{id}", self.web_push, methods=["POST"]),
                Route("/token", self.fcm_token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self.fcm_send, methods=["POST"]),
                Route("/3/device/{token}", self.apns_send, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.sms_send, methods=["POST"]),
            ]
        )

    async def _answer(self, service: str, key: str) -> int | None:
        await asyncio.sleep(self.delays.get(service, 0.0))
        self.answered[service] += 1
        queued = self.answers.get(key)
        return queued.pop(0) if queued else None

    def _refuse(self, why: str, status: int = 400) -> Response:
        self.refused.append(why)
        return JSONResponse({"reason": why}, status_code=status)

    async def web_push(self, request: Request) -> Response:
        receiver = self.receivers.get(request.path_params["id"])
        if receiver is None:
            return Response(status_code=404)
        headers = request.headers
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            return self._refuse("web push needs Content-Encoding: aes128gcm and TTL")
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        parts = dict(part.strip().split("=", 1) for part in credentials.split(","))
        if scheme.lower() != "vapid" or "t" not in parts or "k" not in parts:
            return self._refuse("web push needs Authorization: vapid t=..., k=...", 401)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        try:
            claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=self.base_url)
        except jwt.PyJWTError as error:
            return self._refuse(f"bad VAPID token: {error}", 403)
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return self._refuse("VAPID sub is a mailto: or https: contact", 403)
        plain = http_ece.decrypt(
            await request.body(),
            private_key=receiver.private_key,
            auth_secret=receiver.auth,
            version="aes128gcm",
        )
        self.received.append(
            Received("webpush", receiver.id, dict(headers), _version(request), json.loads(plain))
        )
        status = await self._answer("webpush", receiver.id)
        return Response(status_code=status or 201)

    async def fcm_token(self, request: Request) -> Response:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._refuse("unsupported grant_type")
        try:
            claims = jwt.decode(
                str(form.get("assertion")),
                self.fcm_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base_url}/token",
            )
        except jwt.PyJWTError as error:
            return self._refuse(f"bad assertion: {error}", 401)
        if "firebase.messaging" not in claims.get("scope", ""):
            return self._refuse("the firebase.messaging scope is needed", 403)
        token = secrets.token_hex(16)
        self.fcm_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def fcm_send(self, request: Request) -> Response:
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.fcm_tokens:
            return self._refuse("no valid access token", 401)
        body = await request.json()
        message = body.get("message", {})
        if not isinstance(message.get("token"), str) or not {"title", "body"} <= set(
            message.get("notification", {})
        ):
            return self._refuse("FCM wants message.token and message.notification.{title, body}")
        self.received.append(
            Received("fcm", message["token"], dict(request.headers), _version(request), body)
        )
        status = await self._answer("fcm", message["token"])
        if status == 404:
            error = {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}
            return JSONResponse({"error": error}, status_code=404)
        if status:
            return JSONResponse({"error": {"code": status, "status": "UNAVAILABLE"}}, status_code=status)
        return JSONResponse({"name": f"projects/hutch-test/messages/{secrets.token_hex(4)}"})

    async def apns_send(self, request: Request) -> Response:
        if _version(request) != "2":
            return self._refuse("APNs speaks HTTP/2 only", 505)
        headers = request.headers
        scheme, _, token = headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, self.apns_key.public_key(), algorithms=["ES256"])
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            return self._refuse(f"bad provider token: {error}", 403)
        if scheme != "bearer" or claims.get("iss") != "TEAM123456" or kid != "KEY1234567":
            return self._refuse("InvalidProviderToken", 403)
        if claims.get("iat", 0) < time.time() - 3600:
            return self._refuse("ExpiredProviderToken", 403)
        if headers.get("apns-topic") != "example.hutch.app" or headers.get("apns-push-type") != "alert":
            return self._refuse("apns-topic and apns-push-type: alert are needed")
        body = await request.json()
        if not {"title", "body"} <= set(body.get("aps", {}).get("alert", {})):
            return self._refuse("aps.alert needs a title and a body")
        device = request.path_params["token"]
        self.received.append(Received("apns", device, dict(headers), _version(request), body))
        status = await self._answer("apns", device)
        if status:
            reason = "Unregistered" if status == 410 else "InternalServerError"
            return JSONResponse({"reason": reason}, status_code=status)
        return Response(status_code=200, headers={"apns-id": secrets.token_hex(8)})

    async def sms_send(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{self.sms_sid}:{self.sms_token}".encode()).decode()
        if request.path_params["sid"] != self.sms_sid or request.headers.get("authorization") != expected:
            return self._refuse("the account and its token are needed", 401)
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        if form.get("From") != self.sms_from or not form.get("To") or not form.get("Body"):
            return self._refuse("an SMS needs To, From (the account's number) and Body")
        number = form["To"]
        if number in self.dead_numbers:
            return JSONResponse({"code": 21211, "message": f"The 'To' number {number} is not valid"}, 400)
        self.received.append(Received("sms", number, dict(request.headers), _version(request), form))
        status = await self._answer("sms", number)
        if status:
            return JSONResponse({"code": 20500, "message": "internal error"}, status_code=status)
        return JSONResponse({"sid": "SM" + secrets.token_hex(16), "status": "queued"}, status_code=201)


class _Mailbox:
    """The SMTP server's handler: refuses dead mailboxes at RCPT TO, records what arrives."""

    def __init__(self, services: PushServices):
        self.services = services

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.services.dead_mailboxes:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        for address in envelope.rcpt_tos:
            headers = {name.lower(): str(value) for name, value in message.items()}
            body = message.get_payload(decode=True).decode()
            self.services.received.append(
                Received("email", address, headers, "smtp", {"from": envelope.mail_from, "body": body})
            )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _version(request: Request) -> str:
    return str(request.scope.get("http_version", ""))


PUSH_QUEUES = ("push", "push.webpush", "push.android", "push.ios", "push.email", "push.sms", "push.dead")


async def purge_push_queues(amqp_url: str) -> None:
    """Pushes other test runs left on RabbitMQ would be sent to services that are gone."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    for name in PUSH_QUEUES:
        queue = await channel.declare_queue(name, durable=True)
        await queue.purge()
    await connection.close()


# -- fixtures: a module's push services, a hub whose bridge pushes to them (on each backend) ----


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushServices]:
    services = PushServices(Path(tmp_path_factory.mktemp("push")), _free_port())
    yield services
    services.close()


@pytest.fixture(scope="module", params=["memory", "amqp"])
def hub(request: pytest.FixtureRequest, services: PushServices) -> Iterator[Any]:
    from backends import AMQP_URL, SECRET, hub_settings
    from hub_server import running_hub

    if request.param == "amqp":
        asyncio.run(purge_push_queues(AMQP_URL))
    settings = hub_settings(request.param) | services.settings()
    with running_hub(**settings, push_bridge=True, dev_mode=False, jwt_secret=SECRET) as running:
        assert running.node.push_bridge is not None
        running.node.push_bridge.retry_delays = (0.05, 0.1)
        yield running


@pytest.fixture
async def push(services: PushServices) -> AsyncIterator[PushServices]:
    """The services, started for one test, with nothing received yet."""
    for record in (services.received, services.refused, services.answers, services.delays, services.answered):
        record.clear()
    services.dead_mailboxes.clear()
    services.dead_numbers.clear()
    await services.start()
    yield services
    await services.stop()
    assert services.refused == [], "a push broke the service's rules"
