"""The WebSub hub (W3C WebSub): subscription requests answered 202 and verified afterwards,
publishing, and distribution as jobs on the broker.

    POST /websub  hub.mode=subscribe|unsubscribe  -> 202, then GET <callback>?hub.challenge=...
    POST /websub  hub.mode=publish, hub.url        -> 202, then fetch the topic, then a job per
                                                      subscriber on the `hutch.websub` queue
    job           POST <callback> with the topic's Content-Type, Link rel=hub and rel=self, and
                  X-Hub-Signature when the subscription has a secret; 2xx done, 410 drops the
                  subscription, anything else tried again later with backoff and jitter

A (un)subscription changes nothing until its intent is verified: a failed renewal leaves the
old subscription delivering. Jobs are on the broker, so every node shares them and none is lost
with a node; a retry waits in the store until its backoff is over, then goes back on the queue;
a job delivered twice (after a crash) is sent once per content version.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx
from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.websub.addresses import Unreachable, check_reachable
from hutch.hub.websub.model import Subscription
from hutch.hub.websub.store import WebSubStore

log = logging.getLogger(__name__)

JOBS = "hutch.websub"  # the delivery work queue
MAX_SECRET = 200  # bytes
MAX_URL = 2048
REMEMBERED = 7 * 86400  # seconds a delivered version is remembered


class BadRequest(Exception):
    """A request the hub does not take: 400 with these words, in plain text."""


@dataclass(frozen=True)
class Limits:
    default_lease: int = 10 * 86400
    max_lease: int = 30 * 86400
    min_lease: int = 60
    fetch_bytes: int = 1024 * 1024  # of a topic fetched on publish
    timeout: float = 10.0
    attempts: int = 6  # deliveries of one update to one subscriber, then given up
    backoff: float = 1.0  # seconds before the first retry; doubled each time, with jitter
    allow_private: bool = False  # reach loopback and private addresses (tests only)
    signature: str = "sha256"  # or sha512


OwnTopic = Callable[[str], Awaitable[tuple[bytes, str] | None]]  # topic -> (content, type) if ours


class WebSubHub:
    def __init__(
        self,
        store: WebSubStore,
        broker: Broker,
        hub_url: str,
        limits: Limits = Limits(),
        own_topic: OwnTopic | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.broker = broker
        self.hub_url = hub_url
        self.limits = limits
        self.own_topic = own_topic
        self.clock = clock
        # Every request the hub makes (verifications, deliveries, fetches and their redirects)
        # is checked against the address policy first.
        self.http = httpx.AsyncClient(
            timeout=limits.timeout,
            follow_redirects=False,
            max_redirects=3,
            event_hooks={"request": [self._guard]},
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def _guard(self, request: httpx.Request) -> None:
        try:
            await check_reachable(str(request.url), self.limits.allow_private)
        except Unreachable as error:
            raise httpx.RequestError(str(error), request=request) from None

    async def start(self) -> None:
        await self.broker.declare_queue(JOBS, durable=True)
        await self.broker.consume(JOBS, lambda delivery: self._in_task(self.deliver(delivery)), prefetch=50)
        self._in_task(self._release_held())

    async def _release_held(self, every: float = 0.2) -> None:
        """Retries held in the store go back on the queue when due, from whichever node looks."""
        while True:
            await asyncio.sleep(every)
            try:
                for job in await self.store.take_due(self.clock(), 100):
                    await self.broker.publish("", JOBS, Message(job.encode(), {"persistent": "true"}))
            except Exception as error:  # the store or the broker is away: the jobs wait there
                log.warning("held WebSub retries not released: %s", error)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.http.aclose()

    def _in_task(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests ------------------------------------------------------------

    async def request(self, form: dict[str, str]) -> None:
        """Take a request or raise BadRequest; what it leads to happens afterwards."""
        mode = form.get("hub.mode", "")
        if mode == "publish":
            topic = form.get("hub.url") or form.get("hub.topic") or ""
            await self._url(topic, "hub.url")
            self.publish_soon(topic)
            return
        if mode not in ("subscribe", "unsubscribe"):
            raise BadRequest("hub.mode is subscribe, unsubscribe or publish")
        callback = await self._url(form.get("hub.callback", ""), "hub.callback")
        topic = await self._url(form.get("hub.topic", ""), "hub.topic")
        secret = form.get("hub.secret", "")
        if len(secret.encode()) >= MAX_SECRET:
            raise BadRequest(f"hub.secret is shorter than {MAX_SECRET} bytes")
        lease = self._lease(form.get("hub.lease_seconds"))
        self._in_task(self._validate_then_verify(mode, topic, callback, lease, secret))

    async def _validate_then_verify(
        self, mode: str, topic: str, callback: str, lease: int, secret: str
    ) -> None:
        """A topic under this hub's own URL must be one it serves (a public context's feed):
        any other is denied; every other topic is taken for any publisher."""
        ours = topic.startswith(self.hub_url.removesuffix("/websub") + "/")
        if (
            mode == "subscribe"
            and ours
            and self.own_topic is not None
            and await self.own_topic(topic) is None
        ):
            await self.deny(topic, callback, "not a public topic of this hub")
            return
        await self.verify(mode, topic, callback, lease, secret)

    async def _url(self, url: str, name: str) -> str:
        if not url or len(url) > MAX_URL:
            raise BadRequest(f"{name} is a URL of at most {MAX_URL} characters")
        try:
            await check_reachable(url, self.limits.allow_private)
        except Unreachable as error:
            raise BadRequest(f"{name}: {error}") from None
        return url

    def _lease(self, asked: str | None) -> int:
        if asked is None or not asked.isascii() or not asked.isdigit() or int(asked) == 0:
            return self.limits.default_lease
        return max(self.limits.min_lease, min(int(asked), self.limits.max_lease))

    # -- verification of intent ----------------------------------------------

    async def verify(self, mode: str, topic: str, callback: str, lease: int, secret: str) -> bool:
        """GET the callback with a fresh challenge; only an exact echo in a 2xx changes anything."""
        challenge = secrets.token_urlsafe(24)
        asked_at = self.clock()
        query = {
            "hub.mode": mode,
            "hub.topic": topic,
            "hub.challenge": challenge,
            "hub.lease_seconds": str(lease),
        }
        try:
            answer = await self.http.get(_with_query(callback, query))
            confirmed = answer.is_success and answer.text == challenge
        except httpx.HTTPError as error:
            log.info("verification of %s for %s failed: %s", callback, topic, error)
            confirmed = False
        if not confirmed:
            return False
        if mode == "subscribe":
            existing = await self.store.get(topic, callback)
            created = existing.created if existing else asked_at
            await self.store.put(Subscription(topic, callback, lease, asked_at + lease, secret, created))
        else:
            await self.store.delete(topic, callback)
        return True

    async def deny(self, topic: str, callback: str, reason: str) -> None:
        """Tell a subscriber its subscription is refused (or ended by the hub)."""
        query = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason}
        with contextlib.suppress(httpx.HTTPError):
            await self.http.get(_with_query(callback, query))

    async def sweep(self) -> int:
        """Drop the subscriptions whose lease has ended; how many."""
        ended = await self.store.expired(self.clock())
        for subscription in ended:
            await self.store.delete(subscription.topic, subscription.callback)
        return len(ended)

    # -- publishing and distribution ---------------------------------------------

    def publish_soon(self, topic: str) -> None:
        """`publish`, in the background: a post is not held up by its feed's subscribers."""
        self._in_task(self.publish(topic))

    async def publish(self, topic: str) -> None:
        """Fetch the topic (or take it from hutch itself) and distribute it."""
        content = await self.own_topic(topic) if self.own_topic is not None else None
        if content is None:
            content = await self._fetch(topic)
        if content is not None:
            await self.distribute(topic, *content)

    async def _fetch(self, topic: str) -> tuple[bytes, str] | None:
        try:  # a publisher's topic may move: its redirects are followed, a few
            async with self.http.stream("GET", topic, follow_redirects=True) as answer:
                if not answer.is_success:
                    log.info("publish of %s: the topic answered %s", topic, answer.status_code)
                    return None
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > self.limits.fetch_bytes:
                        log.info("publish of %s: larger than %s bytes", topic, self.limits.fetch_bytes)
                        return None
                return bytes(body), answer.headers.get("content-type", "application/octet-stream")
        except httpx.HTTPError as error:
            log.info("publish of %s: %s", topic, error)
            return None

    async def distribute(self, topic: str, body: bytes, content_type: str) -> int:
        """A delivery job per active subscriber of `topic`; how many."""
        version = hashlib.sha256(body).hexdigest()[:32]
        now = self.clock()
        count = 0
        for subscription in await self.store.of_topic(topic):
            if subscription.expires < now:
                continue
            job = {
                "topic": topic,
                "callback": subscription.callback,
                "body": base64.b64encode(body).decode(),
                "content_type": content_type,
                "version": version,
                "attempt": 0,
            }
            await self._queue(job)
            count += 1
        return count

    async def _queue(self, job: dict[str, object]) -> None:
        await self.broker.publish("", JOBS, Message(json.dumps(job).encode(), {"persistent": "true"}))

    async def deliver(self, delivery: Delivery) -> None:
        try:
            job = json.loads(delivery.message.body)
            subscription = await self.store.get(job["topic"], job["callback"])
            active = subscription is not None and subscription.expires >= self.clock()
            if active and not await self.store.was_delivered(subscription.key, job["version"]):
                await self._post(subscription, job)
        except Exception as error:  # never a job stuck at the head of the queue
            log.warning("a WebSub delivery job failed: %r", error)
        await delivery.ack()

    async def _post(self, subscription: Subscription, job: dict[str, object]) -> None:
        body = base64.b64decode(str(job["body"]))
        headers = {
            "Content-Type": str(job["content_type"]),
            "Link": f'<{self.hub_url}>; rel="hub", <{subscription.topic}>; rel="self"',
        }
        if subscription.secret:
            method = self.limits.signature
            signature = hmac.new(subscription.secret.encode(), body, method).hexdigest()
            headers["X-Hub-Signature"] = f"{method}={signature}"
        try:
            answer = await self.http.post(subscription.callback, content=body, headers=headers)
            status = answer.status_code
        except httpx.HTTPError as error:
            log.info("delivery to %s failed: %s", subscription.callback, error)
            status = 0
        if 200 <= status < 300:
            await self.store.delivered(subscription.key, str(job["version"]), REMEMBERED)
        elif status == 410:  # the subscriber says it is gone
            await self.store.delete(subscription.topic, subscription.callback)
        else:
            await self._retry(job)

    async def _retry(self, job: dict[str, object]) -> None:
        """Hold the job in the store until its backoff is over (with jitter): a node that stops
        meanwhile loses nothing, another node sends it."""
        attempt = int(str(job["attempt"])) + 1
        if attempt >= self.limits.attempts:
            log.info("gave up delivering %s to %s", job["topic"], job["callback"])
            return
        wait = self.limits.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        await self.store.hold(json.dumps(job | {"attempt": attempt}), self.clock() + wait)


def _with_query(url: str, params: dict[str, str]) -> str:
    """The callback with `params` added to its own query string (never replacing it)."""
    joiner = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return f"{url}{joiner}{urlencode(params)}"
