"""What a message or request body may hold, so that whatever is stored can be read back.

JSON and msgpack both carry values that the other side, or the store, cannot
take again: NaN and infinities (not JSON), integers wider than 64 bits (not
msgpack), nesting deep enough to exhaust a recursive reader. A body holding one
is refused before it is published or stored.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32
_INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack can carry


class BadPayload(ValueError):
    """The body holds a value the hub does not take; the message says which and where."""


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise BadPayload unless every value is finite, 64-bit and at most `max_depth` deep."""
    # Iterative, so that a body nested thousands deep is refused, not a RecursionError.
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                raise BadPayload(f"nested deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadPayload(f"{item} is not a number JSON can carry")
        elif isinstance(item, int) and not _INT_RANGE[0] <= item <= _INT_RANGE[1]:
            raise BadPayload("an integer wider than 64 bits")
