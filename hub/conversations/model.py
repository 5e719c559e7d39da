"""Conversations and their messages, as stored.

History ids are
time-ordered strings "<milliseconds>-<sequence>", as Redis streams make them, so
ids of different conversations compare by time too (`id_key`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

HISTORY_LIMIT = 1000  # messages kept per conversation
UUID_MEMORY = 86400.0  # seconds a message uuid is remembered: a copy sent again meanwhile is not kept twice
UNSENT = "?"  # before a stored id: the message was stored `until_sent` and is not sent yet


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
