"""Many waits with one timeout, watched by one timer.

A lane to RabbitMQ or Redis waits for an answer to every publish or batch: a timer each (an
`asyncio.timeout`) costs more than the rest of the wait. Answers come in order, so the oldest
wait is the next to be late: one timer, set for it, is enough.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Deadlines(Generic[T]):
    """`overdue(wait)` for each wait added that is not `done` within `timeout` seconds."""

    def __init__(self, timeout: float, done: Callable[[T], bool], overdue: Callable[[T], None]):
        self.timeout = timeout
        self._done, self._overdue = done, overdue
        self._waits: deque[tuple[float, T]] = deque()  # (when it is late, the wait), oldest first
        self._timer: asyncio.TimerHandle | None = None

    def add(self, wait: T) -> None:
        loop = asyncio.get_running_loop()
        self._waits.append((loop.time() + self.timeout, wait))
        if self._timer is None:
            self._timer = loop.call_at(self._waits[0][0], self._check)

    def clear(self) -> None:
        self._waits.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._waits:
            when, wait = self._waits[0]
            if not self._done(wait) and when > loop.time():
                self._timer = loop.call_at(when, self._check)
                return
            self._waits.popleft()
            if not self._done(wait):
                self._overdue(wait)
