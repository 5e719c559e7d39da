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
    _check(value, max_depth)


def _check(value: Any, depth_left: int) -> None:
    # Recursion is bounded by depth_left; strings, the most common values, are passed over first.
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if depth_left <= 0:
            raise BadPayload("values nested too deep")
        for item in value.values() if kind is dict else value:
            if type(item) is not str:
                _check(item, depth_left - 1)
    elif kind is float:
        if not math.isfinite(value):
            raise BadPayload(f"{value} is not a number JSON can carry")
    elif kind is int and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise BadPayload("an integer wider than 64 bits")
