"""The `ConversationStore` protocol: conversations, history, read cursors, message uuids.

Two backends implement it with the same behaviour, held to it by one contract test:
`memory.MemoryConversationStore` (the default, in process) and
`redis.RedisConversationStore` (`HUTCH_REDIS_URL`).
"""

from __future__ import annotations

from typing import Any, Protocol

from hutch.hub.conversations.model import Conversation, History, StoredMessage
from hutch.hub.errors import Forbidden

# (cid, sender, message, uuid): what `append` takes, one message of `append_many`
Appended = tuple[str, str, dict[str, Any], str | None]


def not_a_member(sender: str, cid: str) -> Forbidden:
    return Forbidden(f"{sender} is not a participant of conversation '{cid}'")


class ConversationStore(Protocol):
    async def put_conversation(self, conversation: Conversation) -> None: ...

    async def conversation(self, cid: str) -> Conversation | None: ...

    async def delete_conversation(self, cid: str) -> None: ...

    async def conversations_of(self, user: str) -> list[str]:
        """Ids of the user's conversations, newest activity first."""
        ...

    async def pair(self, a: str, b: str) -> str | None:
        """The conversation of exactly these two people, if any."""
        ...

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
        """Store a message; (its id, True) or, for a uuid stored before, (that id, False).
        `members_only`: `Forbidden` unless the sender is a member at this moment (a node storing
        on send checks here, where no cached answer can be stale). `until_sent`: the message is
        sent once stored (storing on send), and its uuid is answered (its id, True) again, to be
        sent, until `mark_sent`: a node that stored it and then died, or lost Redis's answer,
        has not sent it."""
        ...

    async def append_many(
        self, messages: list[Appended], *, members_only: bool = False, until_sent: bool = False
    ) -> list[tuple[str, bool] | None]:
        """Store several messages in their order, as `append` each: one Redis round trip. None
        for one the store refused (Redis took the others); the caller tries it alone."""
        ...

    async def mark_sent(self, uuid: str, message_id: str) -> None:
        """The message stored `until_sent` under `uuid` is sent: its uuid is a repeat for appends
        made after this on the same store, and for any other a moment later (Redis: the mark
        waits up to `MARK_WAIT` to go with appends). It does not fail: a mark the store cannot
        write is logged, and a retry would then send the message twice, never not at all."""
        ...

    async def unstore(self, cid: str, message_id: str, uuid: str | None) -> None:
        """Take back a message stored as it was sent whose publish failed: out of history and its
        uuid forgotten, so that its retry is stored and sent."""
        ...

    async def history(
        self, cid: str, *, before: str | None = None, after: str | None = None, limit: int = 50
    ) -> History:
        """Messages in time order: the last `limit` before `before`, or the first after `after`."""
        ...

    async def message(self, cid: str, message_id: str) -> StoredMessage | None:
        """One stored message, if still in history."""
        ...

    async def mark_read(self, cid: str, user: str, message_id: str) -> None: ...

    async def read_cursor(self, cid: str, user: str) -> str | None: ...

    async def unread(self, cid: str, user: str) -> int:
        """Messages of others after the user's read cursor."""
        ...

    async def first_send(self, uuid: str) -> bool:
        """True the first time a message uuid is sent, False for a repeat (kept a day)."""
        ...

    async def forget_send(self, uuid: str) -> None:
        """The send of `uuid` did not go through: its retry is not a repeat."""
        ...
