"""The bounded outbound queue of one connection.

The hub never waits for a client: frames for a session go into its outbox, and
the endpoint writes them to the socket as soon as the socket takes them (it is
told through `on_ready`). A client that stops reading lets its outbox grow; past
`max_bytes` the session is ended with an ERROR ("slow consumer") so that it
never slows the others nor eats the node's memory.

Live traffic cannot wait, but a backlog can: what delivers a backlog (a queue's
waiting messages, a replay from history) puts frames only while `has_room`, and
asks `when_room` to be called back once the socket took what waits. The outbox
then never holds more than half its limit and one frame of a backlog.
"""

from __future__ import annotations

from collections.abc import Callable


class Outbox:
    def __init__(self, max_bytes: int, on_ready: Callable[[], None] = lambda: None):
        self.max_bytes = max_bytes
        self.closing = False
        self.on_ready = on_ready  # the transport's: "frames wait"
        self._frames: list[bytes] = []
        self._size = 0
        self._waiting_room: list[Callable[[], None]] = []

    @property
    def size(self) -> int:
        return self._size

    def put(self, frames: list[bytes]) -> bool:
        """Queue frames; False when that took the outbox past its limit."""
        if self.closing or not frames:
            return True
        self._frames += frames
        # A fan-out puts one frame per recipient: that case skips sum's iterator.
        self._size += len(frames[0]) if len(frames) == 1 else sum(map(len, frames))
        self.on_ready()
        # One frame alone is always taken, however large the frame limits let it be.
        return self._size <= self.max_bytes or len(self._frames) == 1

    def replace(self, frames: list[bytes]) -> None:
        """Drop what is queued and send only `frames`, then close (the slow-consumer ERROR)."""
        self._frames = list(frames)
        self._size = sum(map(len, frames))
        self.close()

    def take(self) -> list[bytes]:
        """Everything queued, to be written now."""
        frames, self._frames, self._size = self._frames, [], 0
        if self._waiting_room:
            waiting, self._waiting_room = self._waiting_room, []
            for callback in waiting:
                callback()
        return frames

    @property
    def has_room(self) -> bool:
        """Room for a backlog's next frame: under half the limit, and not closing."""
        return not self.closing and self._size < self.max_bytes // 2

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call back once what waits now has been taken for the socket."""
        self._waiting_room.append(callback)

    def close(self) -> None:
        """Send what is queued, then stop."""
        self.closing = True
        self.on_ready()

    @property
    def finished(self) -> bool:
        """Closed and nothing left to send: the connection can go."""
        return self.closing and not self._frames
