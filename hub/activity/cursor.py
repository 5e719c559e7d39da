"""Paging cursors: where the last page ended, so that the next starts right after it, never
skipping nor repeating an item (MAX compared ids with dates). A client passes `next` back as it
is. A page newest-published first ends at an id, which holds its sort key (the published
millisecond, then its order within it); a page by latest comment ends at that comment's
millisecond and the id, so its cursor holds both."""

from __future__ import annotations

import re
from enum import StrEnum

from hutch.hub.errors import Invalid


class Order(StrEnum):
    PUBLISHED = "published"  # newest post first
    COMMENTS = "comments"  # most recently commented (or, never commented, posted) first


SortKey = tuple[int, str]  # (milliseconds the order goes by, activity id)
PATTERN = r"^([0-9]{13}\.)?[0-9]{13}[0-9a-f]{12}$"  # [millisecond.]activity id
_CURSOR = re.compile(PATTERN)


def encode(key: SortKey, order: Order = Order.PUBLISHED) -> str:
    return key[1] if order is Order.PUBLISHED else f"{key[0]:013d}.{key[1]}"


def decode(cursor: str, order: Order = Order.PUBLISHED) -> SortKey:
    """The key a page starts after. An id alone stands at its published millisecond, so a
    cursor of either order is read in the other without error (if not without surprise)."""
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise Invalid("'cursor' is not one this hub handed out")
    activity_id = cursor.rpartition(".")[2]
    if order is Order.COMMENTS and match[1]:
        return int(match[1][:-1]), activity_id
    return int(activity_id[:13]), activity_id
