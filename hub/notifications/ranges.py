"""The `Range: id ]<last>..; max=N` header of the seed's API, for the ids hutch really hands out
(KSUIDs: letters and digits; the seed's own parser took digits only and broke on them).

    id                    from the newest
    id <a>..              from `a` on (older), `a` included; `]<a>..` leaves it out
    id ..<b>              down to `b`, included; `..<b>[` leaves it out
    ; max=N               at most N entries (default 20, at most 1,000)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hutch.hub.errors import Invalid, Refused

DEFAULT_MAX, MOST = 20, 1000
_ID = r"[0-9A-Za-z]{27}"
_RANGE = re.compile(
    rf"(?P<field>[A-Za-z_]+)(?:\s+(?P<after>\]?)(?P<start>{_ID})?\.\.(?P<end>{_ID})?(?P<before>\[?))?"
)
_MAX = re.compile(r"max=(\d{1,9})")


class RangeNotSatisfiable(Refused):
    def __init__(self, description: str):
        super().__init__(description, status=416, error="RangeNotSatisfiable")


@dataclass(frozen=True, slots=True)
class IdRange:
    start: str | None = None  # the newest id to give, or the one to start after
    start_included: bool = True
    end: str | None = None  # the oldest id to give, or the one to stop before
    end_included: bool = True
    max: int = DEFAULT_MAX

    def next(self, last: str) -> str:
        """The `Next-Range` of the page that ended at `last`."""
        end = f"{self.end}{'' if self.end_included else '['}" if self.end else ""
        return f"id ]{last}..{end}; max={self.max}"

    @property
    def from_the_newest(self) -> bool:
        return self.start is None


def parse(header: str | None) -> IdRange:
    if header is None or not header.strip():
        return IdRange()
    head, _, options = header.partition(";")
    found = _RANGE.fullmatch(head.strip())
    if found is None:
        raise Invalid("'Range' is 'id [<id>]..[<id>]' with ']' or '[' to leave an end out, then '; max=N'")
    if found["field"] != "id":
        raise RangeNotSatisfiable(f"notifications are ranged by 'id', not '{found['field'][:40]}'")
    most = DEFAULT_MAX
    if options.strip():
        count = _MAX.fullmatch(options.strip())
        if count is None or int(count[1]) < 1:
            raise Invalid("the only option of 'Range' is 'max=N', N at least 1")
        most = min(int(count[1]), MOST)
    return IdRange(found["start"], not found["after"], found["end"], not found["before"], most)


def before(last: str | None, limit: int) -> IdRange:
    """`?before=<id>&limit=N`, for clients that prefer a query string: the same as a `Range`."""
    if last is not None and not re.fullmatch(_ID, last):
        raise Invalid("'before' is a notification id")
    return IdRange(last, last is None, max=limit)
