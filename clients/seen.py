"""A bounded memory of what a client has handled: the last `size` keys, oldest forgotten first.

The Python client and the bot kit both drop a message they have seen (by its uuid): a
recovery may replay what arrived just before a drop, RabbitMQ may deliver again what it
had not seen acked.
"""

from __future__ import annotations

from collections import OrderedDict


class Seen:
    def __init__(self, size: int):
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """True the first time `key` comes (it is noted), False for a repeat."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True
