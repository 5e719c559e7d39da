"""`DirectStore` in process memory: the embedded default."""

from __future__ import annotations

import time

from hutch.hub.direct.model import Job, Preferences


class MemoryDirect:
    def __init__(self) -> None:
        self._preferences: dict[str, Preferences] = {}
        self._users: dict[str, None] = {}  # ordered, for a stable cursor
        self._jobs: dict[str, Job] = {}
        self._free_at: dict[str, float] = {}  # job id -> due, or the end of its claim
        self._sent: dict[str, tuple[Job, float]] = {}  # job id -> (job, kept until)

    async def preferences(self, user: str) -> Preferences:
        found = self._preferences.get(user)
        return Preferences.from_json(found.stored()) if found else Preferences()

    async def set_preferences(self, user: str, preferences: Preferences) -> None:
        self._preferences[user] = preferences

    async def remember(self, user: str) -> None:
        self._users[user] = None

    async def users(self, cursor: str, count: int) -> tuple[list[str], str]:
        start = int(cursor or 0)
        page = list(self._users)[start : start + count]
        following = start + len(page)
        return page, str(following) if following < len(self._users) else ""

    async def schedule(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._free_at[job.id] = job.due

    async def claim_due(self, now: float, lease: float, most: int) -> list[Job]:
        due = sorted((at, job_id) for job_id, at in self._free_at.items() if at <= now)[:most]
        for _, job_id in due:
            self._free_at[job_id] = now + lease
        return [self._jobs[job_id] for _, job_id in due]

    async def claim(self, job_id: str, now: float, lease: float) -> Job | None:
        if self._free_at.get(job_id, now + 1) > now:
            return None
        self._free_at[job_id] = now + lease
        return self._jobs[job_id]

    async def done(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._free_at.pop(job_id, None)

    async def keep_sent(self, job: Job, ttl: float) -> None:
        now = time.time()
        for job_id in [job_id for job_id, (_, until) in self._sent.items() if until < now]:
            del self._sent[job_id]
        self._sent[job.id] = (job, now + ttl)

    async def sent(self, job_id: str) -> Job | None:
        found = self._sent.get(job_id)
        return found[0] if found and found[1] >= time.time() else None

    async def of_author(self, author: str) -> list[Job]:
        return sorted((job for job in self._jobs.values() if job.author == author), key=lambda job: job.due)

    async def pending(self, author: str) -> int:
        return sum(1 for job in self._jobs.values() if job.author == author)

    async def cancel(self, author: str, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.author != author:
            return False
        await self.done(job_id)
        return True
