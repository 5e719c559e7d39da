"""A WebSub subscription, as stored: one per (topic, callback)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class Subscription:
    topic: str
    callback: str
    lease_seconds: int
    expires: float  # when the lease ends (Unix seconds)
    secret: str = ""  # signs deliveries when set
    created: float = 0.0

    @property
    def key(self) -> str:
        return subscription_key(self.topic, self.callback)

    def fields(self) -> dict[str, Any]:
        return asdict(self)


def subscription_key(topic: str, callback: str) -> str:
    return hashlib.sha256(f"{topic}\n{callback}".encode()).hexdigest()[:32]


def topic_key(topic: str) -> str:
    return hashlib.sha256(topic.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Follow:
    """A context following an external feed: through the feed's hub when it has one, else by
    polling it with conditional GETs."""

    id: str
    context: str  # the context's hash
    url: str  # the feed
    by: str  # who asked: the posts are theirs
    topic: str = ""  # the feed's self URL at its hub
    hub: str = ""  # empty: polled
    secret: str = ""  # what the hub signs deliveries with
    etag: str = ""
    last_modified: str = ""

    def fields(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "context": self.context,
            "url": self.url,
            "hub": self.hub or None,
            "by": self.by,
        }
