"""The sessions of a node, and the one clock that drives their timers.

One task ticks every session a few times a second (heart-beats, login timeout,
clients that do not take their last frames) instead of a timer per connection;
a session with nothing due before its next heart-beat returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from hutch.protocol import StompError

if TYPE_CHECKING:
    from hutch.hub.core.session import Session

TICK_SECONDS = 0.25


class Registry:
    def __init__(self) -> None:
        self.sessions: set[Session] = set()
        self._clock: asyncio.Task[None] | None = None

    def add(self, session: Session) -> None:
        self.sessions.add(session)

    def remove(self, session: Session) -> None:
        self.sessions.discard(session)

    def start(self) -> None:
        self._clock = asyncio.create_task(self._run_clock(), name="hutch-clock")

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock

    async def _run_clock(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for session in list(self.sessions):
                session.tick(now)

    async def drain(self, reason: str, timeout: float) -> None:
        """Tell every client the node is going away, then wait (bounded) for them to close."""
        for session in list(self.sessions):
            session.fail(StompError("shutting down", reason))
        deadline = time.monotonic() + timeout
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
