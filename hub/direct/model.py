"""What direct messaging keeps: each user's channel preferences, and jobs due at a time.

A preference body (every field optional; what is left out keeps the default):

    {"channels": {"email": [4], "sms": [], ...},        urgency levels each channel carries
     "categories": {"offers": ["websocket"], ...},      channels a category may use
     "quiet": {"from": "22:00", "to": "07:00",          pushes below urgency `below` wait
               "timezone": "Europe/Paris", "below": 4},   until `to` (in the user's zone)
     "mutes": {"conversation/<cid>": "2026-12-07T08:00:00Z", "context/<hash>": null},
     "email": "ann@example.org", "phone": "+14155550100"}   null mutes until unmuted
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hutch.hub.errors import Invalid

WEBSOCKET = "websocket"
PUSH_CHANNELS = ("webpush", "ios", "android")  # the platforms of registered devices
ADDRESS_CHANNELS = ("email", "sms")  # reached at an address the user gave
CHANNELS = (WEBSOCKET, *PUSH_CHANNELS, *ADDRESS_CHANNELS)
URGENCIES = (1, 2, 3, 4)  # RFC 8030: very-low, low, normal, high
# Out of the box every channel carries every level, but e-mail and SMS only what is urgent.
DEFAULT_CHANNELS = {channel: list(URGENCIES) for channel in (WEBSOCKET, *PUSH_CHANNELS)} | {
    "email": [4],
    "sms": [4],
}
MAX_CATEGORIES, MAX_MUTES, MAX_CATEGORY = 50, 200, 64
MUTE_KINDS = ("conversation", "context")
# Plain addresses only: nothing that could end a mail header or need quoting.
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}"
PHONE_PATTERN = r"\+[1-9][0-9]{6,14}"  # E.164
_EMAIL = re.compile(EMAIL_PATTERN, re.ASCII)
_PHONE = re.compile(PHONE_PATTERN, re.ASCII)
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(slots=True)
class Quiet:
    """Hours when pushes below `below` wait: from `start` to `end` (minutes after midnight)."""

    start: int
    end: int
    zone: str
    below: int = 4

    def held_until(self, now: float, urgency: int) -> float | None:
        """When a push of `urgency` sent at `now` may go, if the quiet hours hold it."""
        if urgency >= self.below or self.start == self.end:
            return None
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        inside = (
            (self.start <= minute < self.end)
            if self.start < self.end
            else not (self.end <= minute < self.start)
        )
        if not inside:
            return None
        end = local.replace(hour=self.end // 60, minute=self.end % 60, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end.timestamp()

    def to_json(self) -> dict[str, Any]:
        return {
            "from": _clock(self.start),
            "to": _clock(self.end),
            "timezone": self.zone,
            "below": self.below,
        }


@dataclass(slots=True)
class Preferences:
    channels: dict[str, list[int]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    categories: dict[str, list[str]] = field(default_factory=dict)
    quiet: Quiet | None = None
    mutes: dict[str, float | None] = field(default_factory=dict)  # "<kind>/<id>" -> until (None: ever)
    email: str | None = None
    phone: str | None = None

    def channels_for(self, urgency: int, category: str | None) -> list[str]:
        """The channels a message of `urgency` and `category` may take."""
        allowed = self.categories.get(category) if category else None
        return [
            channel
            for channel in CHANNELS
            if urgency in self.channels.get(channel, ()) and (allowed is None or channel in allowed)
        ]

    def muted(self, target: str, now: float) -> bool:
        """`target` ("conversation/<cid>", "context/<hash>") is muted at `now`."""
        if target not in self.mutes:
            return False
        until = self.mutes[target]
        return until is None or until > now

    def address(self, channel: str) -> str | None:
        return self.email if channel == "email" else self.phone if channel == "sms" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "categories": self.categories,
            "quiet": self.quiet.to_json() if self.quiet else None,
            "mutes": {target: _instant(until) for target, until in self.mutes.items()},
            "email": self.email,
            "phone": self.phone,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Preferences:
        """Preferences as stored (trusted: checked by `changed` when they were set)."""
        quiet = body.get("quiet")
        return cls(
            channels=body.get("channels", dict(DEFAULT_CHANNELS)),
            categories=body.get("categories", {}),
            quiet=Quiet(**quiet) if quiet else None,
            mutes=body.get("mutes", {}),
            email=body.get("email"),
            phone=body.get("phone"),
        )

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    def changed(self, body: dict[str, Any]) -> Preferences:
        """These preferences with what `body` sets, each field checked; Invalid says what is wrong."""
        unknown = set(body) - {"channels", "categories", "quiet", "mutes", "email", "phone"}
        if unknown:
            raise Invalid(f"unknown preference '{sorted(unknown)[0]}'")
        new = Preferences.from_json(self.stored())
        if "channels" in body:
            new.channels = {**self.channels, **_channels(body["channels"])}
        if "categories" in body:
            new.categories = _categories(body["categories"])
        if "quiet" in body:
            new.quiet = _quiet(body["quiet"])
        if "mutes" in body:
            new.mutes = _mutes(body["mutes"])
        if "email" in body:
            new.email = _address(body["email"], _EMAIL, "'email' is an e-mail address")
        if "phone" in body:
            new.phone = _address(body["phone"], _PHONE, "'phone' is an E.164 number (+ and 7 to 15 digits)")
        return new


def urgency_level(value: Any) -> int | None:
    """An urgency level 1-4 (JSON's 4.0 is 4 too), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value) if int(value) in URGENCIES else None


def _channels(value: Any) -> dict[str, list[int]]:
    shape = f"'channels' maps channels ({', '.join(CHANNELS)}) to lists of urgency levels 1-4"
    if not isinstance(value, dict) or not set(value) <= set(CHANNELS):
        raise Invalid(shape)
    for levels in value.values():
        if not isinstance(levels, list) or any(urgency_level(level) is None for level in levels):
            raise Invalid(shape)
    return {channel: sorted({int(level) for level in levels}) for channel, levels in value.items()}


def _categories(value: Any) -> dict[str, list[str]]:
    shape = (
        f"'categories' maps at most {MAX_CATEGORIES} category names (1-{MAX_CATEGORY} characters) "
        f"to lists of channels ({', '.join(CHANNELS)})"
    )
    if not isinstance(value, dict) or len(value) > MAX_CATEGORIES:
        raise Invalid(shape)
    for name, channels in value.items():
        if not 0 < len(name) <= MAX_CATEGORY or not isinstance(channels, list):
            raise Invalid(shape)
        if not all(isinstance(channel, str) and channel in CHANNELS for channel in channels):
            raise Invalid(shape)
    return {name: sorted(set(channels)) for name, channels in value.items()}


def _quiet(value: Any) -> Quiet | None:
    if value is None:
        return None
    shape = '\'quiet\' is {"from": "HH:MM", "to": "HH:MM", "timezone": an IANA zone, "below": 1-4} or null'
    if not isinstance(value, dict) or not set(value) <= {"from", "to", "timezone", "below"}:
        raise Invalid(shape)
    start, end, zone = value.get("from"), value.get("to"), value.get("timezone", "UTC")
    below = urgency_level(value.get("below", 4))
    if not (
        isinstance(start, str) and _CLOCK.fullmatch(start) and isinstance(end, str) and _CLOCK.fullmatch(end)
    ):
        raise Invalid(shape)
    if below is None or not isinstance(zone, str) or len(zone) > 64:
        raise Invalid(shape)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"'quiet.timezone' names no time zone: '{zone[:64]}'") from None
    return Quiet(_minutes(start), _minutes(end), zone, below)


def _mutes(value: Any) -> dict[str, float | None]:
    shape = (
        f"'mutes' maps at most {MAX_MUTES} 'conversation/<id>' or 'context/<hash>' to an RFC 3339 "
        "time or null (until unmuted)"
    )
    if not isinstance(value, dict) or len(value) > MAX_MUTES:
        raise Invalid(shape)
    mutes: dict[str, float | None] = {}
    for target, until in value.items():
        kind, _, name = target.partition("/")
        if kind not in MUTE_KINDS or not 0 < len(name) <= 64 or "/" in name:
            raise Invalid(shape)
        mutes[target] = None if until is None else parse_instant(until, "a mute's end")
    return mutes


def _address(value: Any, pattern: re.Pattern[str], shape: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid(shape)
    return value


def parse_instant(value: Any, what: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with its offset."""
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"{what} is an RFC 3339 time, such as 2026-12-07T08:00:00Z")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid(f"{what} is an RFC 3339 time, such as 2026-12-07T08:00:00Z") from None
    if when.tzinfo is None:
        raise Invalid(f"{what} needs its offset (Z or +HH:MM)")
    try:  # it is shown back in UTC, where 0001-01-01T00:00+00:01 has no year
        return dt.datetime.fromtimestamp(when.timestamp(), dt.UTC).timestamp()
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"{what} falls outside the years 1 to 9999 in UTC") from None


def _instant(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(slots=True)
class Job:
    """Something to do at `due`: a send (`kind` "send"), a chat message ("chat") or a held
    push ("push"); `author` lists and cancels the first two."""

    id: str
    kind: str
    author: str
    due: float
    payload: dict[str, Any]
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def shown(self) -> dict[str, Any]:
        """As its author sees it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "deliverAt": _instant(self.due),
            "created": _instant(self.created),
            **self.payload,
        }


def instant(seconds: float | None) -> str | None:
    return _instant(seconds)
