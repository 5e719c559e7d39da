"""Rate limits: token buckets, per connection, per user (all of a user's connections on a node
together) and per REST caller.

A bucket holds at most `burst` tokens and gains `rate` a second; taking more than it holds is
refused, and says how long until there would be enough. A rate of 0 is no limit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Bucket:
    rate: float  # tokens a second; 0: unlimited
    burst: float
    tokens: float = field(init=False)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, n: float, now: float) -> bool:
        if not self.rate:
            return True
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if n > self.tokens:
            return False
        self.tokens -= n
        return True

    def wait(self, n: float) -> float:
        """Seconds until `n` tokens would be there (after a refused `take`)."""
        return max(0.0, (min(n, self.burst) - self.tokens) / self.rate) if self.rate else 0.0


@dataclass(frozen=True, slots=True)
class Rate:
    """Frames and bytes a second, with their bursts."""

    frames: float
    frames_burst: float
    bytes: float
    bytes_burst: float

    def buckets(self) -> tuple[Bucket, Bucket]:
        return Bucket(self.frames, self.frames_burst), Bucket(self.bytes, self.bytes_burst)


class Flow:
    """One connection's buckets, and its user's (shared by their connections on this node)."""

    def __init__(self, per_connection: Rate):
        self.frames, self.bytes = per_connection.buckets()
        self.user_frames: Bucket | None = None
        self.user_bytes: Bucket | None = None

    def refusal(self, frames: int, size: int, now: float) -> str | None:
        """Why `frames` frames of `size` bytes now are too many, or None when they pass (this
        runs for everything a client sends: no work beyond the four takes when they pass)."""
        if not self.bytes.take(size, now):
            return _said(self.bytes, "bytes a second on this connection")
        if not self.frames.take(frames, now):
            return _said(self.frames, "frames a second on this connection")
        if self.user_bytes is not None and not self.user_bytes.take(size, now):
            return _said(self.user_bytes, "bytes a second for this user")
        if self.user_frames is not None and not self.user_frames.take(frames, now):
            return _said(self.user_frames, "frames a second for this user")
        return None


def _said(bucket: Bucket, what: str) -> str:
    return f"more than {bucket.rate:g} {what} (bursts up to {bucket.burst:g}): slow down"


class UserFlows:
    """The users' shared buckets on a node, kept while the user has a connection here."""

    def __init__(self, per_user: Rate):
        self.per_user = per_user
        self._buckets: dict[str, tuple[Bucket, Bucket]] = {}
        self._holders: Counter[str] = Counter()

    def join(self, flow: Flow, user: str) -> None:
        if user not in self._buckets:
            self._buckets[user] = self.per_user.buckets()
        self._holders[user] += 1
        flow.user_frames, flow.user_bytes = self._buckets[user]

    def leave(self, user: str) -> None:
        self._holders[user] -= 1
        if self._holders[user] <= 0:
            del self._holders[user]
            self._buckets.pop(user, None)


class CallerLimits:
    """REST: a bucket of requests per caller, forgotten once full again."""

    def __init__(self, rate: float, burst: float, most: int = 100_000):
        self.rate, self.burst, self.most = rate, burst, most
        self._buckets: dict[str, Bucket] = {}

    def retry_after(self, caller: str, now: float) -> int | None:
        """None when the request may go; else whole seconds to wait (Retry-After)."""
        if not self.rate:
            return None
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.most:  # forget the idle ones (full by now)
                self._buckets = {
                    k: b for k, b in self._buckets.items() if now - b.stamp < self.burst / self.rate
                }
            bucket = self._buckets[caller] = Bucket(self.rate, self.burst, stamp=now)
        if bucket.take(1, now):
            return None
        return max(1, math.ceil(bucket.wait(1)))
