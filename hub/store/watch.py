"""Whether the store answers, as /health tells it: up or down now, and the gaps it has seen
(a Redis failover, say), each from the first failed check to the first good one after it."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

PING_TIMEOUT = 1.0  # seconds: a store slower than this counts as down
GAPS_KEPT = 10


class StoreWatch:
    def __init__(self, ping: Callable[[], Awaitable[object]]):
        self.ping = ping
        self.down_since: float | None = None
        self.gaps: deque[dict[str, float]] = deque(maxlen=GAPS_KEPT)

    async def check(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await self.ping()
            up = True
        except Exception:  # any failure to answer is "down"; what it was goes to the logs
            up = False
        now = time.time()
        if not up and self.down_since is None:
            self.down_since = now
        elif up and self.down_since is not None:
            self.gaps.append({"from": round(self.down_since, 3), "to": round(now, 3)})
            self.down_since = None
        status: dict[str, Any] = {"store": "up" if up else "down"}
        if self.down_since is not None:
            status["store_down_since"] = round(self.down_since, 3)
        if self.gaps:
            status["store_gaps"] = list(self.gaps)
        return status
