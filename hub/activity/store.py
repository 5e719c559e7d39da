"""The `ActivityStore` protocol: activities by stream (a context, an actor), likes and comments.

Likes are a set per activity and comments are stored once, by id: counts come from them, so
no concurrent like or comment is lost and nothing drifts (MAX kept embedded copies). Two
backends implement it, held to one contract test: `memory.MemoryActivities` and
`redis.RedisActivities`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.activity.cursor import Order, SortKey
from hutch.hub.activity.model import Activity, Comment


def context_stream(hash: str) -> str:
    return f"context:{hash}"


def actor_stream(username: str) -> str:
    return f"actor:{username}"


def favorites_stream(username: str) -> str:
    return f"favorites:{username}"


def flagged_stream(hash: str) -> str:
    return f"flagged:{hash}"


def streams_of(activity: Activity) -> list[str]:
    """The streams an activity is in: its actor's, and its context's if it has one."""
    streams = [actor_stream(activity.actor)]
    if activity.context:
        streams.append(context_stream(activity.context))
    return streams


class ActivityStore(Protocol):
    async def add(self, activity: Activity) -> None:
        """Store an activity in its actor's stream and its context's, all or nothing."""
        ...

    async def get(self, activity_id: str) -> Activity | None:
        """The activity, with its like and comment counts."""
        ...

    async def delete(self, activity_id: str) -> None:
        """The activity goes, with its comments, likes and places among favorites."""
        ...

    async def page(
        self, streams: list[str], before: SortKey | None, limit: int, order: Order = Order.PUBLISHED
    ) -> list[Activity]:
        """The first `limit` activities of all `streams` in `order` (newest first) after `before`.

        By comments, the order is the latest comment's time (the post's, uncommented), and only
        the streams of `streams_of` are kept in it."""
        ...

    async def like(self, activity_id: str, username: str) -> bool:
        """True when it is a new like."""
        ...

    async def unlike(self, activity_id: str, username: str) -> bool: ...

    async def favorite(self, activity: Activity, username: str) -> bool:
        """Keep the activity among the user's favorites (a stream of its own); True when new."""
        ...

    async def unfavorite(self, activity: Activity, username: str) -> bool: ...

    async def flag(self, activity: Activity) -> bool:
        """Pin an activity in its context (a stream of the context's flagged ones); True when new."""
        ...

    async def unflag(self, activity: Activity) -> bool: ...

    async def add_comment(self, activity: Activity, comment: Comment) -> None:
        """Store the comment and move the activity up in its streams' order by comments."""
        ...

    async def comment(self, comment_id: str) -> Comment | None: ...

    async def comments(self, activity_id: str) -> list[Comment]:
        """Oldest first."""
        ...

    async def delete_comment(self, comment: Comment) -> None: ...
