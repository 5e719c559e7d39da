"""A notification, as stored and as the API shows it."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

from ksuid import KsuidMs

MAX_CATEGORY, MAX_MESSAGE, MAX_PROPERTIES, MAX_PROPERTY = 64, 1000, 20, 1000


def new_id(now: float | None = None) -> str:
    """A KSUID of 4 ms precision: 27 base-62 characters whose order is time order (ties broken
    at random), unique across nodes without coordination."""
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    return str(KsuidMs(moment))


@dataclass(slots=True)
class Notification:
    id: str
    category: str
    message: str
    created_at: float
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, category: str, message: str, properties: dict[str, str] | None = None) -> Notification:
        now = time.time()
        return cls(new_id(now), category, message, now, dict(properties or {}))

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
