"""MAX envelopes the hub writes itself: acks, read receipts, messages posted over REST."""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import Any


def envelope(
    user: str, action: str, kind: str, data: dict[str, Any], cid: str, uuid: str | None = None
) -> dict[str, Any]:
    """A MAX envelope from the hub; a fresh uuid unless it answers a message that has one."""
    return {
        "uuid": uuid or _fresh_uuid(),
        "user": {"username": user},
        "action": action,
        "object": kind,
        "data": data,
        "source": "hub",
        "published": _rfc3339(int(time.time())),
        "destination": cid,
    }


_random = bytearray()


def _fresh_uuid() -> str:
    """32 random hex digits, as a uuid4's hex, unguessable: from a pool of the system's random
    bytes, drawn 4 KiB at a time rather than with a system call each (one per chat message)."""
    if not _random:
        _random.extend(os.urandom(4096))
    uuid = _random[-16:].hex()
    del _random[-16:]
    return uuid


@lru_cache(maxsize=2)  # formatted once a second, not once a message
def _rfc3339(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
