"""The embedded `ConversationStore`, in process memory."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import OrderedDict, defaultdict, deque
from itertools import islice
from typing import Any

from hutch.hub.conversations.model import (
    HISTORY_LIMIT,
    UNSENT,
    UUID_MEMORY,
    Conversation,
    History,
    StoredMessage,
    id_key,
)
from hutch.hub.conversations.store import Appended, not_a_member
from hutch.hub.errors import Forbidden


class Remembered:
    """Keys kept for a while, as Redis keeps keys with a time to live; the oldest go first."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._until: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (expiry, value)

    def get(self, key: str) -> str | None:
        self._forget_expired()
        kept = self._until.get(key)
        return kept[1] if kept else None

    def put(self, key: str, value: str) -> None:
        self._forget_expired()
        self._until[key] = (time.monotonic() + self.seconds, value)
        self._until.move_to_end(key)

    def forget(self, key: str) -> None:
        self._until.pop(key, None)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        while self._until and next(iter(self._until.values()))[0] <= now:
            self._until.popitem(last=False)


class MemoryConversationStore:
    def __init__(self, history_limit: int = HISTORY_LIMIT, uuid_memory: float = UUID_MEMORY):
        self.history_limit = history_limit
        self._conversations: dict[str, Conversation] = {}
        self._activity: dict[str, float] = {}
        # Each history keeps its newest `history_limit` messages; appending drops the oldest.
        self._history: defaultdict[str, deque[StoredMessage]] = defaultdict(
            lambda: deque(maxlen=history_limit)
        )
        self._dropped: dict[str, str] = {}  # newest id trimmed from each history
        self._stored_uuids = Remembered(uuid_memory)  # uuid -> the id it was stored under
        self._sent_uuids = Remembered(uuid_memory)
        self._cursors: dict[tuple[str, str], str] = {}
        self._last_id = (0, 0)

    async def put_conversation(self, conversation: Conversation) -> None:
        self._conversations[conversation.id] = conversation
        self._activity.setdefault(conversation.id, conversation.created or time.time())

    async def conversation(self, cid: str) -> Conversation | None:
        return self._conversations.get(cid)

    async def delete_conversation(self, cid: str) -> None:
        self._conversations.pop(cid, None)
        self._history.pop(cid, None)
        self._activity.pop(cid, None)

    async def conversations_of(self, user: str) -> list[str]:
        mine = [c.id for c in self._conversations.values() if user in c.members]
        return sorted(mine, key=lambda cid: self._activity.get(cid, 0.0), reverse=True)

    async def pair(self, a: str, b: str) -> str | None:
        wanted = sorted((a, b))
        for conversation in self._conversations.values():
            if not conversation.group and sorted(conversation.members) == wanted:
                return conversation.id
        return None

    def _next_id(self) -> str:
        now = int(time.time() * 1000)
        milliseconds, sequence = self._last_id
        self._last_id = (now, 0) if now > milliseconds else (milliseconds, sequence + 1)
        milliseconds, sequence = self._last_id
        return f"{milliseconds}-{sequence}"

    async def append(
        self,
        cid: str,
        sender: str,
        message: dict[str, Any],
        uuid: str | None,
        *,
        members_only: bool = False,
        until_sent: bool = False,
    ) -> tuple[str, bool]:
        if members_only:
            conversation = self._conversations.get(cid)
            if conversation is None or sender not in conversation.members:
                raise not_a_member(sender, cid)
        if uuid is not None and (stored_id := self._stored_uuids.get(uuid)) is not None:
            return stored_id.removeprefix(UNSENT), stored_id.startswith(UNSENT)
        message_id = self._next_id()
        history = self._history[cid]
        if history and len(history) == history.maxlen:
            self._dropped[cid] = history[0].id  # about to go
        history.append(StoredMessage(message_id, cid, sender, message))
        self._activity[cid] = time.time()
        if uuid is not None:
            self._stored_uuids.put(uuid, UNSENT + message_id if until_sent else message_id)
        return message_id, True

    async def append_many(
        self, messages: list[Appended], *, members_only: bool = False, until_sent: bool = False
    ) -> list[tuple[str, bool] | None]:
        answers: list[tuple[str, bool] | None] = []
        for message in messages:
            try:
                answers.append(await self.append(*message, members_only=members_only, until_sent=until_sent))
            except Forbidden:
                answers.append(None)  # refused here, as Redis refuses it in its place
        return answers

    async def mark_sent(self, uuid: str, message_id: str) -> None:
        if self._stored_uuids.get(uuid) == UNSENT + message_id:
            self._stored_uuids.put(uuid, message_id)

    async def unstore(self, cid: str, message_id: str, uuid: str | None) -> None:
        history = self._history.get(cid, deque())
        for message in [m for m in history if m.id == message_id]:
            history.remove(message)
        if uuid is not None:
            self._stored_uuids.forget(uuid)

    async def history(
        self, cid: str, *, before: str | None = None, after: str | None = None, limit: int = 50
    ) -> History:
        history = self._history.get(cid, ())
        if after is not None:
            chosen = [m for m in history if id_key(m.id) > id_key(after)][:limit]
            dropped = self._dropped.get(cid)
            complete = dropped is None or id_key(dropped) <= id_key(after)
            return History(chosen, complete)
        newest = history if before is None else [m for m in history if id_key(m.id) < id_key(before)]
        # the last `limit`, without copying a whole history to read its end
        return History(list(islice(newest, max(0, len(newest) - limit), None)) if limit else [], True)

    async def mark_read(self, cid: str, user: str, message_id: str) -> None:
        current = self._cursors.get((cid, user))
        if current is None or id_key(message_id) > id_key(current):
            self._cursors[(cid, user)] = message_id

    async def read_cursor(self, cid: str, user: str) -> str | None:
        return self._cursors.get((cid, user))

    async def unread(self, cid: str, user: str) -> int:
        cursor = self._cursors.get((cid, user))
        after = id_key(cursor) if cursor else (-1, -1)
        return sum(1 for m in self._history.get(cid, []) if m.sender != user and id_key(m.id) > after)

    async def first_send(self, uuid: str) -> bool:
        if self._sent_uuids.get(uuid) is not None:
            return False
        self._sent_uuids.put(uuid, "")
        return True

    async def forget_send(self, uuid: str) -> None:
        self._sent_uuids.forget(uuid)

    async def message(self, cid: str, message_id: str) -> StoredMessage | None:
        history = self._history.get(cid, ())
        try:
            wanted = id_key(message_id)
        except ValueError:
            return None
        at = bisect_left(history, wanted, key=_key_of)  # a history is in id order
        return history[at] if at < len(history) and history[at].id == message_id else None


def _key_of(stored: StoredMessage) -> tuple[int, int]:
    return id_key(stored.id)
