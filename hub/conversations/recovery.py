"""What a reconnecting user missed: their conversations' history after an id, in id order.

History is read a page per conversation at a time and merged, so a user with many
conversations and a long gap costs the hub a few pages, not the whole gap; the session
replays it at the client's pace (see `Session._replay`).
"""

from __future__ import annotations

import heapq
from collections import deque

from hutch.hub.conversations.model import StoredMessage, id_key
from hutch.hub.conversations.store import ConversationStore

PAGE = 200  # messages read from one conversation's history at a time
FIRST_PAGE = 20  # read from every conversation before the replay starts: kept small


class Missed:
    """The messages stored after `since` in the given conversations, oldest first."""

    def __init__(self, store: ConversationStore, since: str):
        self.store = store
        self.since = since
        self.complete = True  # False once a conversation's history has lost part of the gap
        self._pages: dict[str, deque[StoredMessage]] = {}
        self._more: set[str] = set()  # conversations whose last page was full: read on
        self._heads: list[tuple[tuple[int, int], str]] = []  # (id, conversation) of each page's first

    @classmethod
    async def of(cls, store: ConversationStore, conversations: list[str], since: str) -> Missed:
        """The first page of each conversation, read now: they say whether the replay is whole."""
        missed = cls(store, since)
        for cid in conversations:
            history = await store.history(cid, after=since, limit=FIRST_PAGE)
            missed.complete = missed.complete and history.complete
            missed._add_page(cid, history.messages)
        return missed

    def _add_page(self, cid: str, messages: list[StoredMessage], size: int = FIRST_PAGE) -> None:
        if len(messages) == size:
            self._more.add(cid)
        else:
            self._more.discard(cid)
        if messages:
            self._pages[cid] = deque(messages)
            heapq.heappush(self._heads, (id_key(messages[0].id), cid))

    async def next(self) -> StoredMessage | None:
        """The oldest message not yet handed out, or None when all were."""
        if not self._heads:
            return None
        _, cid = heapq.heappop(self._heads)
        page = self._pages[cid]
        stored = page.popleft()
        if page:
            heapq.heappush(self._heads, (id_key(page[0].id), cid))
        elif cid in self._more:
            history = await self.store.history(cid, after=stored.id, limit=PAGE)
            self._add_page(cid, history.messages, PAGE)
        return stored
