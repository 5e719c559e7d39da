"""A notification, as stored and as the API shows it."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

from ksuid import KsuidMs

MAX_CATEGORY, MAX_MESSAGE, MAX_PROPERTIES, MAX_PROPERTY = 64, 1000, 20, 1000


_last = bytes(20)  # the last id made here: the next one is above it


def new_id(now: float | None = None) -> str:
    """A KSUID of 4 ms precision: 27 base-62 characters whose order is time order, unique across
    nodes without coordination; ids made by this process one after the other also sort in that
    order (one made in the same 4 ms as the last is the last plus one)."""
    global _last
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    made = bytes(KsuidMs(moment))
    if now is None and made <= _last:
        made = (int.from_bytes(_last) + 1).to_bytes(20)
    if now is None:
        _last = made
    return str(KsuidMs.from_bytes(made))


@dataclass(slots=True)
class Notification:
    id: str
    category: str
    message: str
    created_at: float
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, category: str, message: str, properties: dict[str, str] | None = None) -> Notification:
        return cls(new_id(), category, message, time.time(), dict(properties or {}))

    def fields(self) -> dict[str, Any]:
        """What a store keeps."""
        return {
            "id": self.id,
            "category": self.category,
            "message": self.message,
            "created_at": self.created_at,
            "properties": self.properties,
        }

    def to_json(self, unseen: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "message": self.message,
            "created_at": rfc3339(self.created_at),
            "unseen": unseen,
            "properties": self.properties,
        }


def rfc3339(moment: float) -> str:
    """As the seed's service writes it: UTC, milliseconds, `Z`."""
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
