"""Activities (posts) and their comments, as stored: content sanitised once, when written."""

from __future__ import annotations

import html
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import nh3
from hutch.hub.activity.cursor import Order

# What a post or comment may keep of HTML: text formatting and links, nothing that runs.
ALLOWED_TAGS = {"a", "b", "br", "em", "i", "li", "ol", "p", "strong", "ul"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,64})")
_WORD = re.compile(r"\w{3,64}")
_TAGS = re.compile(r"<[^>]*>")


def sanitised(content: str) -> str:
    return nh3.clean(
        content, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"}
    )


def plain_text(content: str) -> str:
    """The words of sanitised HTML, as a push shows them."""
    return " ".join(html.unescape(_TAGS.sub(" ", content)).split())


def hashtags_of(content: str) -> list[str]:
    return sorted({tag.lower() for tag in _HASHTAG.findall(_TAGS.sub(" ", content))})


def keywords_of(content: str) -> list[str]:
    return sorted({word.lower() for word in _WORD.findall(_TAGS.sub(" ", content))})[:200]


_sequence = itertools.count()


def new_id(now: float) -> str:
    """Time-ordered and unique across nodes: milliseconds, this process's sequence (so that two
    made in one millisecond keep their order), then random bits."""
    return f"{int(now * 1000):013d}{next(_sequence) % 0x10000:04x}{secrets.token_hex(4)}"


@dataclass(slots=True)
class Activity:
    id: str
    actor: str
    content: str  # sanitised HTML
    context: str = ""  # the context's hash; empty for a post on the actor's own timeline
    object_type: str = "note"
    hashtags: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    published: float = 0.0
    likes: int = 0  # counted by the store, not kept in the activity
    comments: int = 0
    favorites: int = 0
    flagged: bool = False  # pinned in its context
    commented: float = 0.0  # when it was last commented (0: never), kept by the store
    media: dict[str, Any] = field(default_factory=dict)  # an image's or file's: name, type, size
    generator: str = ""  # the external feed it came from (a URL), for posts hutch made itself

    @classmethod
    def new(cls, actor: str, content: str, context: str = "") -> Activity:
        now = time.time()
        clean = sanitised(content)
        return cls(new_id(now), actor, clean, context, "note", hashtags_of(clean), keywords_of(clean), now)

    def _media_json(self) -> dict[str, Any]:
        """Where an image or file is fetched (with the caller's token), as MAX names it."""
        if self.object_type == "image":
            path = f"/api/activities/{self.id}/image"
            return {"fullURL": path, "thumbURL": f"{path}/thumb", **self.media}
        if self.object_type == "file":
            return {"fullURL": f"/api/activities/{self.id}/file", **self.media}
        return {}

    @property
    def sort_key(self) -> tuple[int, str]:
        return int(self.published * 1000), self.id

    def key(self, order: Order) -> tuple[int, str]:
        """Where it stands in pages of `order`: by the millisecond it was posted, or last commented."""
        if order is Order.PUBLISHED:
            return self.sort_key
        return int(max(self.published, self.commented) * 1000), self.id

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "content": self.content,
            "context": self.context,
            "object_type": self.object_type,
            "hashtags": self.hashtags,
            "keywords": self.keywords,
            "published": self.published,
            "media": self.media,
            "generator": self.generator,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "objectType": "activity",
            "id": self.id,
            "actor": {"objectType": "person", "username": self.actor},
            "object": {"objectType": self.object_type, "content": self.content, **self._media_json()},
            "contexts": [self.context] if self.context else [],
            "hashtags": self.hashtags,
            "likesCount": self.likes,
            "commentsCount": self.comments,
            "favoritesCount": self.favorites,
            "flagged": self.flagged,
            "published": self.published,
            "lastComment": self.commented or None,
            "generator": {"objectType": "feed", "url": self.generator} if self.generator else None,
        }


@dataclass(slots=True)
class Comment:
    id: str
    activity: str
    actor: str
    content: str
    published: float = 0.0

    @classmethod
    def new(cls, activity: str, actor: str, content: str) -> Comment:
        now = time.time()
        return cls(new_id(now), activity, actor, sanitised(content), now)

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "activity": self.activity,
            "actor": self.actor,
            "content": self.content,
            "published": self.published,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "objectType": "comment",
            "id": self.id,
            "activity": self.activity,
            "actor": {"objectType": "person", "username": self.actor},
            "content": self.content,
            "published": self.published,
        }
