"""The `Store` protocol: conversations, history, read cursors, presence, message uuids.

Two backends implement it with the same behaviour: `memory.MemoryStore` (the
default, in process) and `redis.RedisStore` (`HUTCH_REDIS_URL`). History ids are
time-ordered strings "<milliseconds>-<sequence>", as Redis streams make them, so
ids of different conversations compare by time too (`id_key`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

HISTORY_LIMIT = 1000  # messages kept per conversation
UUID_MEMORY = 86400.0  # seconds a message uuid is remembered: a copy sent again meanwhile is not kept twice


@dataclass(slots=True)
class Conversation:
    id: str
    name: str
    members: list[str]
    owner: str | None = None  # groups have one; a conversation of two has none
    group: bool = False
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class StoredMessage:
    id: str
    conversation: str
    sender: str
    message: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class History:
    messages: list[StoredMessage]
    complete: bool  # False when messages after the asked-for id were dropped from history


@dataclass(slots=True)
class Device:
    """A phone or a browser to notify while its user is offline."""

    id: str
    user: str
    platform: str  # ios, android or webpush
    token: str  # the app's push token, or the Web Push endpoint
    keys: dict[str, str] = field(default_factory=dict)  # Web Push: p256dh and auth
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
_ID_PART_MAX = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers


def id_key(message_id: str) -> tuple[int, int]:
    """The id as (milliseconds, sequence), or ValueError for anything Redis would refuse
    (other characters, '_' or other scripts' digits that int() takes, numbers past 64 bits)."""
    match = _ID.fullmatch(message_id) if isinstance(message_id, str) else None
    key = (int(match[1]), int(match[2] or 0)) if match else None
    if key is None or max(key) > _ID_PART_MAX:
        raise ValueError(f"'{str(message_id)[:60]}' is not a message id (<milliseconds>-<sequence>)")
    return key


FIRST_ID, LAST_ID = (0, 0), (_ID_PART_MAX, _ID_PART_MAX)  # nothing is before the one, after the other


class Store(Protocol):
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
        self, cid: str, sender: str, message: dict[str, Any], uuid: str | None
    ) -> tuple[str, bool]:
        """Store a message; (its id, True) or, for a uuid stored before, (that id, False)."""
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

    async def touch_presence(self, user: str, device: str, ttl: float) -> None: ...

    async def drop_presence(self, user: str, device: str) -> None: ...

    async def online(self, users: list[str]) -> dict[str, int]:
        """Devices online per user (presence entries not yet expired)."""
        ...

    async def add_device(self, device: Device) -> bool:
        """Register a device (True) or refresh one registered before (False)."""
        ...

    async def devices_of(self, user: str) -> list[Device]: ...

    async def remove_device(self, user: str, device_id: str) -> bool: ...

    async def close(self) -> None: ...
