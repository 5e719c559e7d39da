"""Rollup rules and the page they shape, without I/O.

A rule per category folds similar notifications into one entry: at most `max_size` in all,
none older than `max_duration` before the group's newest, all with the same `match_on`
property. Seen and unseen ones never share an entry. A page takes notifications newest first
until the next one would open entry `limit + 1`: where it stopped is where the next page
starts, so paging never loses or repeats a notification, whatever the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hutch.hub.errors import Invalid
from hutch.hub.notifications.model import MAX_CATEGORY, Notification

_DURATION = re.compile(r"(\d{1,9})\s*(seconds?|minutes?|hours?|days?|[smhd])", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RULE_SIZE = 1000


def seconds_of(duration: str) -> int:
    """ "12 hours", "3 hours", "90 seconds", "1 day", "30m" as seconds."""
    match = _DURATION.fullmatch(duration.strip()) if isinstance(duration, str) else None
    if match is None:
        raise Invalid("'max_duration' is a number and a unit: seconds, minutes, hours or days")
    return int(match[1]) * _SECONDS[match[2][0].lower()]


@dataclass(frozen=True, slots=True)
class Rule:
    max_size: int | None = None
    max_duration: str | None = None  # as given: "12 hours"
    match_on: str | None = None
    seconds: int | None = field(init=False, compare=False, default=None)

    @classmethod
    def from_json(cls, body: Any) -> Rule:
        if not isinstance(body, dict) or set(body) - {"max_size", "max_duration", "match_on"}:
            raise Invalid("a rule has 'max_size', 'max_duration' and 'match_on', each optional")
        size, duration, match_on = body.get("max_size"), body.get("max_duration"), body.get("match_on")
        whole = type(size) is int or (type(size) is float and size.is_integer())  # 9.0 is 9, as JSON has it
        if size is not None and (not whole or not 1 <= size <= MAX_RULE_SIZE):
            raise Invalid(f"'max_size' is a whole number of 1 to {MAX_RULE_SIZE}")
        if duration is not None:
            seconds_of(duration)
        if match_on is not None and (not isinstance(match_on, str) or not 0 < len(match_on) <= MAX_CATEGORY):
            raise Invalid(f"'match_on' is a property name of 1 to {MAX_CATEGORY} characters")
        return cls(
            int(size) if size is not None else None,
            duration.strip() if duration is not None else None,
            match_on,
        )

    def to_json(self) -> dict[str, Any]:
        named = {"max_size": self.max_size, "max_duration": self.max_duration, "match_on": self.match_on}
        return {name: value for name, value in named.items() if value is not None}

    def __post_init__(self) -> None:
        seconds = seconds_of(self.max_duration) if self.max_duration is not None else None
        object.__setattr__(self, "seconds", seconds)  # parsed once, read for every notification


@dataclass(slots=True)
class Entry:
    """One line of a page: a notification, and those rolled up into it (older ones)."""

    first: Notification
    unseen: bool
    others: list[Notification] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        shown = self.first.to_json(self.unseen)
        if self.others:
            shown["notifications"] = [other.to_json(self.unseen) for other in self.others]
        return shown


class Page:
    """Entries of a page, filled one notification at a time (newest first) by `take`."""

    def __init__(self, rules: dict[str, Rule], seen_up_to: str | None, limit: int):
        self.rules = rules
        self.seen_up_to = seen_up_to  # the newest seen id: later ones are unseen
        self.limit = limit
        self.entries: list[Entry] = []
        self.last: Notification | None = None  # the last one taken: the next page starts after it
        self.full = False  # True when more notifications wait past `last`
        self._open: dict[tuple[str, bool, str | None], Entry] = {}  # the newest entry of each kind

    def take(self, notification: Notification) -> bool:
        """Take it into an entry; False, taking nothing, when it would open one past `limit`."""
        unseen = self.seen_up_to is None or notification.id > self.seen_up_to
        rule = self.rules.get(notification.category)
        if rule is None:
            return self._open_entry(notification, unseen, None)
        value = notification.properties.get(rule.match_on) if rule.match_on else None
        kind = (notification.category, unseen, value)
        # Only the newest entry of a kind can take more: an older one is full or further back.
        entry = self._open.get(kind)
        if (
            entry is not None
            and (rule.match_on is None or value is not None)
            and self._fits(entry, rule, notification)
        ):
            entry.others.append(notification)
            self.last = notification
            return True
        return self._open_entry(notification, unseen, kind)

    @staticmethod
    def _fits(entry: Entry, rule: Rule, notification: Notification) -> bool:
        if rule.max_size is not None and 1 + len(entry.others) >= rule.max_size:
            return False
        seconds = rule.seconds
        return seconds is None or 0 <= entry.first.created_at - notification.created_at <= seconds

    def _open_entry(
        self, notification: Notification, unseen: bool, kind: tuple[str, bool, str | None] | None
    ) -> bool:
        if len(self.entries) == self.limit:
            return False
        entry = Entry(notification, unseen)
        self.entries.append(entry)
        if kind is not None:
            self._open[kind] = entry
        self.last = notification
        return True
