"""One robust AMQP connection over the nodes of a RabbitMQ cluster.

aio-pika's robust connection reconnects to the one URL it was given. Given several,
`NodesConnection` takes the next one at each connection attempt (aio-pika reads `url`
once per attempt, and `__str__` here does not read it), so a node that is lost or
refuses is left for the next, round the list until one answers. It keeps a short log of
the moves for /health.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiormq
from aio_pika import RobustConnection
from hutch.hub.broker.amqp_transport import CoalescingTransportFactory
from yarl import URL

MOVES_KEPT = 10


def censored(url: URL | str) -> str:
    url = URL(url)
    return str(url.with_password("***")) if url.password else str(url)


@dataclass(frozen=True)
class Move:
    at: float  # time.time()
    left: str | None  # censored URL
    reached: str

    def as_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "left": self.left, "reached": self.reached}


class NodesConnection(RobustConnection):
    """A robust connection to the first node that answers, moving on when it is lost."""

    def __init__(self, url: URL, *, nodes: Sequence[str] = (), **kwargs: Any):
        self.nodes = [URL(node) for node in nodes] or [URL(url)]
        self._at = -1  # the next attempt reads index 0
        self.current: URL | None = None  # the node connected to, or last connected to
        self.moves: deque[Move] = deque(maxlen=MOVES_KEPT)
        # Run on reaching another node, before aio-pika declares, binds and consumes again.
        self.before_restore: Callable[[aiormq.abc.AbstractConnection], Awaitable[None]] | None = None
        super().__init__(url, **kwargs)
        self._at = -1  # reading the URL's query in __init__ counted as an attempt
        self.kwargs["transport_factory"] = CoalescingTransportFactory()  # passed on to aiormq

    @property  # type: ignore[override]
    def url(self) -> URL:
        """The URL of the next connection attempt: each read moves one node on."""
        self._at = (self._at + 1) % len(self.nodes)
        return self.nodes[self._at]

    @url.setter
    def url(self, value: URL) -> None:  # aio-pika sets it in __init__ and on update_secret
        if self._at >= 0:
            self.nodes[self._at] = URL(value)

    def __str__(self) -> str:
        return censored(self.current or self.nodes[0])

    async def _on_connected(self) -> None:
        reached = self.nodes[self._at]
        if self.current is not None and reached != self.current and self.before_restore is not None:
            assert self.transport is not None
            await self.before_restore(self.transport.connection)
        if reached != self.current:
            left = censored(self.current) if self.current else None
            self.moves.append(Move(time.time(), left, censored(reached)))
        self.current = reached
        await super()._on_connected()
