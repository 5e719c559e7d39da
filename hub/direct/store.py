"""The `DirectStore` protocol: each user's preferences, the users a broadcast reaches, and the
jobs due at a time, each claimed by one worker at once.

A claim is a lease: a claimed job is invisible until `lease` seconds have passed, then due
again, so a worker that dies holding one does not lose it; `done` ends it. Two backends
implement it, held to one contract test: `memory.MemoryDirect` and `redis.RedisDirect`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.direct.model import Job, Preferences


class DirectStore(Protocol):
    async def preferences(self, user: str) -> Preferences:
        """The user's preferences, the defaults when none were set."""
        ...

    async def set_preferences(self, user: str, preferences: Preferences) -> None: ...

    async def remember(self, user: str) -> None:
        """`user` is one whom a broadcast reaches (anyone who has connected)."""
        ...

    async def users(self, cursor: str, count: int) -> tuple[list[str], str]:
        """About `count` users from `cursor` ("" to start) and the next cursor ("" at the end)."""
        ...

    async def schedule(self, job: Job) -> None: ...

    async def claim_due(self, now: float, lease: float, most: int) -> list[Job]:
        """Up to `most` jobs due at `now`, each claimed for `lease` seconds."""
        ...

    async def claim(self, job_id: str, now: float, lease: float) -> Job | None:
        """That one job, if it is due and no one holds it."""
        ...

    async def done(self, job_id: str) -> None: ...

    async def keep_sent(self, job: Job, ttl: float) -> None:
        """Keep a dispatched send `ttl` seconds, for the push bridges to read it back."""
        ...

    async def sent(self, job_id: str) -> Job | None: ...

    async def of_author(self, author: str) -> list[Job]:
        """The author's jobs not yet done, soonest first."""
        ...

    async def pending(self, author: str) -> int:
        """How many of the author's jobs wait."""
        ...

    async def cancel(self, author: str, job_id: str) -> bool:
        """Drop the author's job; False when they have none by that id."""
        ...
