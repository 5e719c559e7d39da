"""Paging cursors: where the last page ended, so that the next starts right after it, never
skipping nor repeating an item (MAX compared ids with dates). A client passes `next` back as it
is. Today it is the last item's id, which holds its sort key (the published millisecond, then
its order within it); a sort by something else would say so in a cursor of its own."""

from __future__ import annotations

import re

from hutch.hub.errors import Invalid

SortKey = tuple[int, str]  # (published in milliseconds, id)
PATTERN = r"^[0-9]{13}[0-9a-f]{12}$"  # an activity id
_CURSOR = re.compile(PATTERN)


def encode(key: SortKey) -> str:
    return key[1]


def decode(cursor: str) -> SortKey:
    if not _CURSOR.fullmatch(cursor):
        raise Invalid("'cursor' is not one this hub handed out")
    return int(cursor[:13]), cursor
