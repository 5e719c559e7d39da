"""Messages sent at the same moment are stored together.

Storing on send, each SEND would be a round trip to the store of its own, and on Redis most
of its cost is the client's, not Redis's. Here an append joins those waiting: while one batch
is on its way to the store, the next gathers, and goes as one `append_many` (one pipeline, one
`WAIT`), and their publishes, confirms and deliveries share RabbitMQ's reads and writes too.

With a `linger`, messages sent at a steady rate share round trips as a burst's do: a message
waits up to the linger for those of the other senders heard from lately (the last `RECENT`
lingers), until each of them, or `ENOUGH` senders, have one waiting. A message after a quiet
moment goes at once, and so does one whose sender is the only one lately: a sender that
waits for each receipt before its next SEND (a bot, a test) would wait for nobody.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from hutch.hub.conversations.store import Appended, ConversationStore

log = logging.getLogger(__name__)

MOST_TOGETHER = 100
ENOUGH = 16  # a lingering batch goes once this many senders wait: more would save little more
RECENT = 10  # lingers: a sender heard from within this many is expected to send again


class TogetherAppends:
    def __init__(self, store: ConversationStore, most: int = MOST_TOGETHER, linger: float = 0.0):
        self.store = store
        self.most = most
        self.linger = linger  # seconds
        self._waiting: list[tuple[Appended, asyncio.Future[tuple[str, bool]]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._gathered: asyncio.Future[None] | None = None  # done when a lingering batch goes
        self._gathering: set[str] = set()  # the senders a lingering batch has
        self._recent: OrderedDict[str, float] = OrderedDict()  # sender -> last heard, oldest first

    async def append(
        self, cid: str, sender: str, message: dict[str, Any], uuid: str | None
    ) -> tuple[str, bool]:
        """As `ConversationStore.append` of a member's message `until_sent`: (its id, True) to be
        sent, or (the id, False) for a uuid stored and sent before."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[str, bool]] = loop.create_future()
        self._waiting.append(((cid, sender, message, uuid), answer))
        if self.linger:
            self._heard(sender, loop.time())
        if self._runner is None:
            self._gathering = {sender}
            if len(self._recent) > 1:  # others are likely to send within the linger
                self._gathered = loop.create_future()
            self._runner = asyncio.create_task(self._run())
        elif self._gathered is not None:
            self._gathering.add(sender)
            if len(self._gathering) >= min(ENOUGH, len(self._recent)):
                _settle(self._gathered)
        return await answer

    def _heard(self, sender: str, now: float) -> None:
        recent = self._recent
        recent[sender] = now
        recent.move_to_end(sender)
        horizon = now - RECENT * self.linger
        while recent[oldest := next(iter(recent))] < horizon:
            del recent[oldest]

    async def _run(self) -> None:
        try:
            if gathered := self._gathered:
                timer = asyncio.get_running_loop().call_later(self.linger, _settle, gathered)
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
