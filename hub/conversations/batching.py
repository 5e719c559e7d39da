"""Messages sent at the same moment are stored together.

Storing on send, each SEND would be a round trip to the store of its own, and on Redis most
of its cost is the client's, not Redis's. Here an append joins those waiting: while one batch
is on its way to the store, the next gathers, and goes as one `append_many` (one pipeline, one
`WAIT`), and their publishes, confirms and deliveries share RabbitMQ's reads and writes too.

With a `linger`, a message that comes less than the linger after the one before it (a busy
hub: more are on their way) waits up to that long for them, or until `ENOUGH` wait, so that
messages sent at a steady rate share round trips as a burst's do. A message after a quiet
moment goes at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from hutch.hub.conversations.store import Appended, ConversationStore

log = logging.getLogger(__name__)

MOST_TOGETHER = 100
ENOUGH = 16  # a lingering batch goes once this many wait: more would save little more


class TogetherAppends:
    def __init__(self, store: ConversationStore, most: int = MOST_TOGETHER, linger: float = 0.0):
        self.store = store
        self.most = most
        self.linger = linger  # seconds
        self._waiting: list[tuple[Appended, asyncio.Future[tuple[str, bool]]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._gathered: asyncio.Future[None] | None = None  # done when a lingering batch goes
        self._last_arrival = -math.inf

    async def append(
        self, cid: str, sender: str, message: dict[str, Any], uuid: str | None
    ) -> tuple[str, bool]:
        """As `ConversationStore.append` of a member's message `until_sent`: (its id, True) to be
        sent, or (the id, False) for a uuid stored and sent before."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[str, bool]] = loop.create_future()
        self._waiting.append(((cid, sender, message, uuid), answer))
        now = loop.time()
        busy, self._last_arrival = now - self._last_arrival < self.linger, now
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(self.linger if busy else 0.0))
        elif self._gathered is not None and len(self._waiting) >= ENOUGH:
            _settle(self._gathered)
        return await answer

    async def _run(self, linger: float) -> None:
        try:
            if linger:
                loop = asyncio.get_running_loop()
                self._gathered = gathered = loop.create_future()
                timer = loop.call_later(linger, _settle, gathered)
                await gathered
                timer.cancel()
                self._gathered = None
            while self._waiting:
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                await self._store(batch)
        finally:
            self._runner = self._gathered = None

    async def _store(self, batch: list[tuple[Appended, asyncio.Future[tuple[str, bool]]]]) -> None:
        try:
            answers = await self.store.append_many(
                [appended for appended, _ in batch], members_only=True, until_sent=True
            )
        except Exception as error:  # the store away, say: each sender hears it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        for (appended, answer), stored in zip(batch, answers, strict=True):
            if stored is None:  # refused among the others: alone, for the store's own reason
                try:
                    stored = await self.store.append(*appended, members_only=True, until_sent=True)
                except Exception as error:
                    if not answer.done():
                        answer.set_exception(error)
                    continue
            if not answer.done():
                answer.set_result(stored)
            elif stored[1]:  # its sender went away meanwhile: never sent, so not kept
                await self._take_back(appended, stored[0])

    async def _take_back(self, appended: Appended, stored_id: str) -> None:
        cid, _, _, uuid = appended
        try:
            await self.store.unstore(cid, stored_id, uuid)
        except Exception as error:  # kept in history then, unsent: a retry finds it stored
            log.warning("a message stored for a SEND that went away stays in %s: %s", cid[:80], error)


def _settle(gathered: asyncio.Future[None]) -> None:
    if not gathered.done():
        gathered.set_result(None)
