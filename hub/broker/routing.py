"""How an exchange decides that a binding matches a message, as RabbitMQ does.

Shared by the embedded broker and by the hub's local fan-out, which must pick
the subscriptions a message is for by exactly the broker's rules.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Generic, TypeVar

B = TypeVar("B", bound=Hashable)


def binding_matches(
    exchange_type: str,
    binding_key: str,
    routing_key: str,
    arguments: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    if exchange_type == "fanout":
        return True
    if exchange_type == "direct":
        return binding_key == routing_key
    if exchange_type == "topic":
        return topic_matches(binding_key, routing_key)
    return headers_match(arguments or {}, headers or {})


@lru_cache(maxsize=65536)  # keys and patterns are at most 255 bytes: a bounded memory
def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic match: words split on '.', '*' is exactly one word, '#' zero or more.

    In time linear in the key's words (each step a few operations on integers of a bit per
    pattern word), whatever the pattern: `#.#.#...` against a long key cannot stall a node.
    """
    return _compiled_topic(pattern).matches(key)


class _TopicPattern:
    """A topic pattern as a set of states run in parallel: state i means "the first i words of
    the pattern are matched", one bit each, so that a step over a key word is a few shifts."""

    __slots__ = ("_accept", "_hash", "_literal", "_star")

    def __init__(self, pattern: str):
        words: list[str] = []
        for word in pattern.split("."):
            if not (word == "#" and words and words[-1] == "#"):  # "#.#" matches what "#" does
                words.append(word)
        self._literal: dict[str, int] = {}
        self._star = self._hash = 0
        for at, word in enumerate(words):
            if word == "*":
                self._star |= 1 << at
            elif word == "#":
                self._hash |= 1 << at
            else:
                self._literal[word] = self._literal.get(word, 0) | 1 << at
        self._accept = 1 << len(words)

    def _skip_hashes(self, states: int) -> int:
        # '#' may match no word: past it at once. Never two '#' in a row, so one step does.
        return states | (states & self._hash) << 1

    def matches(self, key: str) -> bool:
        states = self._skip_hashes(1)
        for word in key.split("."):
            one_word = states & (self._literal.get(word, 0) | self._star)
            states = self._skip_hashes(one_word << 1 | states & self._hash)
            if not states:
                return False
        return bool(states & self._accept)


@lru_cache(maxsize=4096)
def _compiled_topic(pattern: str) -> _TopicPattern:
    return _TopicPattern(pattern)


def headers_match(arguments: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Headers exchange: `x-match` all (default) or any of the binding's other arguments."""
    wanted = {k: v for k, v in arguments.items() if not k.startswith("x-")}
    if arguments.get("x-match", "all") == "any":
        return any(headers.get(k) == v for k, v in wanted.items())
    return all(headers.get(k) == v for k, v in wanted.items())


class BindingIndex(Generic[B]):
    """An exchange's bindings, found by what a routing key must share with one to match it: the
    whole key (direct), the first word unless that is a wildcard (topic). A routing key is then
    matched against those alone, not against every conversation's binding."""

    def __init__(self, exchange_type: str):
        self.type = exchange_type
        self._all: dict[B, None] = {}  # ordered sets
        self._by_slot: dict[str | None, dict[B, None]] = {}  # None: may match any key

    def __iter__(self) -> Iterator[B]:
        return iter(self._all)

    def add(self, binding_key: str, binding: B) -> None:
        self._all[binding] = None
        self._by_slot.setdefault(self._slot(binding_key), {})[binding] = None

    def discard(self, binding_key: str, binding: B) -> None:
        self._all.pop(binding, None)
        slot = self._slot(binding_key)
        if (same := self._by_slot.get(slot)) is not None:
            same.pop(binding, None)
            if not same:
                del self._by_slot[slot]

    def candidates(self, routing_key: str) -> Iterable[B]:
        """The bindings that may match `routing_key` (the exchange's rules decide)."""
        if self.type == "direct":
            return self._by_slot.get(routing_key, ())
        if self.type == "topic":
            first = self._by_slot.get(routing_key.partition(".")[0], {})
            return (*first, *self._by_slot.get(None, ()))
        return self._all

    def _slot(self, binding_key: str) -> str | None:
        if self.type == "direct":
            return binding_key
        if self.type == "topic":
            word = binding_key.partition(".")[0]
            return None if word in ("*", "#") else word
        return None
