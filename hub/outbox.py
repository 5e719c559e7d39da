"""The bounded outbound queue of one connection.

The hub never waits for a client: frames for a session go into its outbox and a
writer task sends them. A client that stops reading lets its outbox grow; past
`max_bytes` the session is ended with an ERROR ("slow consumer") so that it
never slows the others nor eats the node's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Send = Callable[[list[bytes]], Awaitable[None]]


class Outbox:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.closing = False
        self._frames: list[bytes] = []
        self._size = 0
        self._ready = asyncio.Event()

    @property
    def size(self) -> int:
        return self._size

    def put(self, frames: list[bytes]) -> bool:
        """Queue frames; False when that took the outbox past its limit."""
        if self.closing or not frames:
            return True
        self._frames.extend(frames)
        self._size += sum(len(frame) for frame in frames)
        self._ready.set()
        return self._size <= self.max_bytes

    def replace(self, frames: list[bytes]) -> None:
        """Drop what is queued and send only `frames`, then close (the slow-consumer ERROR)."""
        self._frames = list(frames)
        self._size = sum(len(frame) for frame in frames)
        self.close()

    def take(self) -> list[bytes]:
        """Everything still queued (what a connection being dropped may try to send last)."""
        frames, self._frames, self._size = self._frames, [], 0
        return frames

    def close(self) -> None:
        """Send what is queued, then stop."""
        self.closing = True
        self._ready.set()

    async def run(self, send: Send) -> None:
        """Write frames as they come, in batches, until closed and drained."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch = self.take()
            if batch:
                await send(batch)
            if self.closing and not self._frames:
                return
