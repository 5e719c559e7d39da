"""Contexts following external feeds: through the feed's WebSub hub when it names one (hutch
subscribes with a callback of its own and checks the signature of every delivery), else by
polling with conditional GETs. Entries are read with feedparser and each is posted once."""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import feedparser
import httpx
from hutch.hub.websub.model import Follow
from hutch.hub.websub.store import WebSubStore

log = logging.getLogger(__name__)

PostEntry = Callable[[Follow, str], Awaitable[None]]  # (follow, the post's HTML)
MAX_FEED = 1024 * 1024
ENTRIES = 50  # read from one fetch or delivery
MAX_SUMMARY = 8000  # characters of an entry's summary in its post


class FeedUnreadable(Exception):
    """The URL did not give a feed: the words say why."""


class Follower:
    def __init__(self, store: WebSubStore, http: httpx.AsyncClient, callback_base: str, post: PostEntry):
        self.store = store
        self.http = http  # the hub's client: the same address policy
        self.callback_base = callback_base  # <base>/websub/callback
        self.post = post

    async def follow(self, context: str, url: str, by: str) -> Follow:
        answer = await self._get(url, {})
        if answer.status_code != 200:
            raise FeedUnreadable(f"the feed answered {answer.status_code}")
        parsed = feedparser.parse(answer.content)
        if parsed.bozo and not parsed.entries:
            raise FeedUnreadable("not an Atom or RSS feed")
        hub, topic = _discover(answer, parsed)
        follow = Follow(
            secrets.token_hex(8), context, url, by, topic or url, hub, secrets.token_hex(16) if hub else ""
        )
        follow.etag, follow.last_modified = (
            answer.headers.get("etag", ""),
            answer.headers.get("last-modified", ""),
        )
        await self.store.put_follow(follow)
        await self.take(follow, answer.content)
        if hub:
            form = {
                "hub.mode": "subscribe",
                "hub.topic": follow.topic,
                "hub.callback": f"{self.callback_base}/{follow.id}",
                "hub.secret": follow.secret,
            }
            try:
                await self.http.post(hub, data=form)
            except (
                httpx.HTTPError
            ) as error:  # polled meanwhile? no: the hub is asked again at the next follow
                log.warning("the hub of %s refused the subscription: %s", url, error)
        return follow

    async def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        try:
            answer = await self.http.get(url, headers=headers, follow_redirects=True)
        except httpx.HTTPError as error:
            raise FeedUnreadable(str(error)) from None
        if len(answer.content) > MAX_FEED:
            raise FeedUnreadable(f"larger than {MAX_FEED} bytes")
        return answer

    def challenge(self, follow: Follow | None, query: dict[str, str]) -> str | None:
        """The echo a verification of our own subscription gets; None for anything else (404)."""
        if follow is None or query.get("hub.topic") != follow.topic or query.get("hub.mode") != "subscribe":
            return None
        return query.get("hub.challenge")

    async def delivered(self, follow: Follow, body: bytes, signature: str) -> bool:
        """Take a delivery from the feed's hub when its signature is right; False otherwise."""
        method, _, given = signature.partition("=")
        if method not in ("sha1", "sha256", "sha384", "sha512") or not follow.secret:
            return False
        expected = hmac.new(follow.secret.encode(), body, method).hexdigest()
        if not hmac.compare_digest(expected, given):
            return False
        await self.take(follow, body)
        return True

    async def take(self, follow: Follow, body: bytes) -> int:
        """Post the entries of a feed not posted before, oldest first; how many."""
        posted = 0
        for entry in reversed(feedparser.parse(body).entries[:ENTRIES]):
            key = entry.get("id") or entry.get("link") or entry.get("title")
            if key and await self.store.first_sight(follow.id, hashlib.sha256(key.encode()).hexdigest()[:32]):
                await self.post(follow, _as_html(entry))
                posted += 1
        return posted

    async def poll(self) -> None:
        """Each followed feed without a hub, with a conditional GET."""
        for follow in await self.store.follows():
            if follow.hub:
                continue
            conditions = {"If-None-Match": follow.etag} if follow.etag else {}
            if follow.last_modified:
                conditions["If-Modified-Since"] = follow.last_modified
            try:
                answer = await self._get(follow.url, conditions)
            except FeedUnreadable as error:
                log.info("polling %s: %s", follow.url, error)
                continue
            if answer.status_code != 200:
                continue
            follow.etag, follow.last_modified = (
                answer.headers.get("etag", ""),
                answer.headers.get("last-modified", ""),
            )
            await self.store.put_follow(follow)
            await self.take(follow, answer.content)


def _discover(answer: httpx.Response, parsed: Any) -> tuple[str, str]:
    """The feed's hub and self URLs: from its Link headers first, then from the feed itself."""
    links = {rel: link.get("url", "") for rel, link in answer.links.items()}
    hub, self_url = links.get("hub", ""), links.get("self", "")
    for link in parsed.feed.get("links", []):
        if link.get("rel") == "hub" and not hub:
            hub = link.get("href", "")
        if link.get("rel") == "self" and not self_url:
            self_url = link.get("href", "")
    return hub, self_url


def _as_html(entry: Any) -> str:
    """A post of an entry: its title linked, then its summary (the hub's sanitiser follows)."""
    title = html.escape(entry.get("title") or "untitled")
    link = entry.get("link", "")
    head = (
        f'<p><a href="{html.escape(link)}">{title}</a></p>'
        if link.startswith(("http://", "https://"))
        else f"<p>{title}</p>"
    )
    return head + (entry.get("summary") or "")[:MAX_SUMMARY]
