"""How many queues a node declares for clients: per user, and in all.

`/queue/<name>` and durable subscriptions make broker queues that outlive the connection
(and, on RabbitMQ, every reconnect of the node declares again the queues it made). A user
naming queue after queue must not grow that without end, nor use up what others need: each
user may have the node declare `per_user` queues, and all users together `total`. A queue
already declared for anyone costs nothing more to use. The node's own queues do not count.
"""

from __future__ import annotations

from collections import Counter

from hutch.protocol import StompError


class QueueQuota:
    def __init__(self, per_user: int, total: int):
        self.per_user = per_user
        self.total = total
        self._owner: dict[str, str] = {}  # queue -> the user it was declared for
        self._count: Counter[str] = Counter()  # user -> queues declared for them

    def claim(self, user: str, queue: str) -> None:
        """Count `queue` against `user` before it is declared; StompError past a limit."""
        if queue in self._owner:
            return
        if self._count[user] >= self.per_user:
            raise StompError(
                "too many queues", f"{user} has had {self.per_user} queues declared on this node"
            )
        if len(self._owner) >= self.total:
            raise StompError("too many queues", f"this node has declared {self.total} queues for its clients")
        self._owner[queue] = user
        self._count[user] += 1

    def release(self, queue: str) -> None:
        """The queue was deleted: it counts no more."""
        user = self._owner.pop(queue, None)
        if user is not None:
            self._count[user] -= 1
            if not self._count[user]:
                del self._count[user]
