"""hutch's own topics: the Atom feed and the JSON Feed of each context whose `read` is public
(its 20 newest activities), made with feedgen and by the JSON Feed 1.1 shape."""

from __future__ import annotations

import datetime
import json
import re

from feedgen.feed import FeedGenerator
from hutch.hub.activity.model import plain_text
from hutch.hub.activity.store import ActivityStore, context_stream
from hutch.hub.contexts.model import Policy
from hutch.hub.contexts.store import ContextStore

ATOM, JSON_FEED = "application/atom+xml", "application/feed+json"
KINDS = {"atom": ATOM, "json": JSON_FEED}
ITEMS = 20
_TOPIC = re.compile(r"/websub/contexts/([0-9a-f]{40})\.(atom|json)")


def topic_url(base: str, hash: str, kind: str) -> str:
    return f"{base}/websub/contexts/{hash}.{kind}"


class ContextFeeds:
    def __init__(self, contexts: ContextStore, activities: ActivityStore, base_url: str):
        self.contexts = contexts
        self.activities = activities
        self.base_url = base_url.rstrip("/")

    async def for_topic(self, topic: str) -> tuple[bytes, str] | None:
        """The content of one of hutch's own topics, or None when `topic` is not one."""
        if not topic.startswith(self.base_url):
            return None
        found = _TOPIC.fullmatch(topic[len(self.base_url) :])
        return await self.feed(found[1], found[2]) if found else None

    async def feed(self, hash: str, kind: str) -> tuple[bytes, str] | None:
        context = await self.contexts.get(hash)
        if context is None or context.policy("read") is not Policy.PUBLIC:
            return None
        items = await self.activities.page([context_stream(hash)], None, ITEMS)
        self_url = topic_url(self.base_url, hash, kind)
        if kind == "json":
            document = {
                "version": "https://jsonfeed.org/version/1.1",
                "title": context.display_name or context.url,
                "home_page_url": context.url,
                "feed_url": self_url,
                "hubs": [{"type": "WebSub", "url": f"{self.base_url}/websub"}],
                "items": [
                    {
                        "id": activity.id,
                        "content_html": activity.content,
                        "content_text": plain_text(activity.content),
                        "date_published": _moment(activity.published).isoformat(),
                        "authors": [{"name": activity.actor}],
                        "tags": activity.hashtags,
                    }
                    for activity in items
                ],
            }
            return json.dumps(document).encode(), JSON_FEED
        feed = FeedGenerator()
        feed.id(self_url)
        feed.title(context.display_name or context.url)
        feed.link(href=context.url, rel="alternate")
        feed.link(href=self_url, rel="self")
        feed.link(href=f"{self.base_url}/websub", rel="hub")
        feed.updated(_moment(items[0].published if items else context.created))
        for activity in reversed(items):  # feedgen lists the last added first
            entry = feed.add_entry()
            entry.id(f"{self.base_url}/api/activities/{activity.id}")
            entry.title(plain_text(activity.content)[:80] or activity.object_type)
            entry.author(name=activity.actor)
            entry.content(activity.content, type="html")
            entry.published(_moment(activity.published))
            entry.updated(_moment(activity.published))
        return feed.atom_str(pretty=True), ATOM


def _moment(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
