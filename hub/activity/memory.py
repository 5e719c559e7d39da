"""The embedded `ActivityStore`, in process memory."""

from __future__ import annotations

import copy
import heapq
from collections import defaultdict

from hutch.hub.activity.cursor import Order, SortKey
from hutch.hub.activity.model import Activity, Comment
from hutch.hub.activity.store import favorites_stream, flagged_stream, streams_of


class MemoryActivities:
    def __init__(self) -> None:
        self._activities: dict[str, Activity] = {}
        self._streams: defaultdict[str, set[str]] = defaultdict(set)  # stream -> activity ids
        self._likes: defaultdict[str, set[str]] = defaultdict(set)
        self._favorites: defaultdict[str, set[str]] = defaultdict(set)  # activity -> users
        self._comments: dict[str, Comment] = {}
        self._comments_of: defaultdict[str, list[str]] = defaultdict(list)

    async def add(self, activity: Activity) -> None:
        self._activities[activity.id] = copy.deepcopy(activity)
        for stream in streams_of(activity):
            self._streams[stream].add(activity.id)

    async def get(self, activity_id: str) -> Activity | None:
        stored = self._activities.get(activity_id)
        if stored is None:
            return None
        found = copy.deepcopy(stored)
        found.likes = len(self._likes.get(activity_id, ()))
        found.comments = len(self._comments_of.get(activity_id, ()))
        found.favorites = len(self._favorites.get(activity_id, ()))
        found.flagged = bool(found.context) and activity_id in self._streams.get(
            flagged_stream(found.context), ()
        )
        return found

    async def delete(self, activity_id: str) -> None:
        activity = self._activities.pop(activity_id, None)
        if activity is None:
            return
        for stream in streams_of(activity):
            self._streams[stream].discard(activity_id)
        if activity.context:
            self._streams[flagged_stream(activity.context)].discard(activity_id)
        self._likes.pop(activity_id, None)
        for username in self._favorites.pop(activity_id, set()):
            self._streams[favorites_stream(username)].discard(activity_id)
        for comment_id in self._comments_of.pop(activity_id, []):
            self._comments.pop(comment_id, None)

    async def page(
        self, streams: list[str], before: SortKey | None, limit: int, order: Order = Order.PUBLISHED
    ) -> list[Activity]:
        ids = set().union(*(self._streams.get(stream, set()) for stream in streams)) if streams else set()
        keys = (self._activities[i].key(order) for i in ids)
        older = (key for key in keys if before is None or key < before)
        return [
            found for key in heapq.nlargest(limit, older) if (found := await self.get(key[1])) is not None
        ]

    async def like(self, activity_id: str, username: str) -> bool:
        likes = self._likes[activity_id]
        new = username not in likes
        likes.add(username)
        return new

    async def unlike(self, activity_id: str, username: str) -> bool:
        likes = self._likes.get(activity_id, set())
        removed = username in likes
        likes.discard(username)
        return removed

    async def favorite(self, activity: Activity, username: str) -> bool:
        users = self._favorites[activity.id]
        new = username not in users
        users.add(username)
        self._streams[favorites_stream(username)].add(activity.id)
        return new

    async def unfavorite(self, activity: Activity, username: str) -> bool:
        removed = username in self._favorites.get(activity.id, set())
        self._favorites[activity.id].discard(username)
        self._streams[favorites_stream(username)].discard(activity.id)
        return removed

    async def flag(self, activity: Activity) -> bool:
        flagged = self._streams[flagged_stream(activity.context)]
        new = activity.id not in flagged
        flagged.add(activity.id)
        return new

    async def unflag(self, activity: Activity) -> bool:
        flagged = self._streams[flagged_stream(activity.context)]
        removed = activity.id in flagged
        flagged.discard(activity.id)
        return removed

    async def add_comment(self, activity: Activity, comment: Comment) -> None:
        self._comments[comment.id] = copy.deepcopy(comment)
        stored = self._activities.get(activity.id)
        if stored is not None:
            stored.commented = max(stored.commented, comment.published)
        self._comments_of[comment.activity].append(comment.id)

    async def comment(self, comment_id: str) -> Comment | None:
        return copy.deepcopy(self._comments.get(comment_id))

    async def comments(self, activity_id: str) -> list[Comment]:
        return [copy.deepcopy(self._comments[i]) for i in self._comments_of.get(activity_id, [])]

    async def delete_comment(self, comment: Comment) -> None:
        if self._comments.pop(comment.id, None) is not None:
            self._comments_of[comment.activity].remove(comment.id)
