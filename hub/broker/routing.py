"""How an exchange decides that a binding matches a message, as RabbitMQ does.

Shared by the embedded broker and by the hub's local fan-out, which must pick
the subscriptions a message is for by exactly the broker's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache


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


@lru_cache(maxsize=65536)
def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic match: words split on '.', '*' is exactly one word, '#' zero or more."""
    return _words_match(tuple(pattern.split(".")), tuple(key.split(".")))


def _words_match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    # Dynamic programming over (pattern position, key position); patterns are short.
    reachable = {0}
    for word in pattern:
        following: set[int] = set()
        for at in reachable:
            if word == "#":
                following.update(range(at, len(key) + 1))
            elif at < len(key) and (word == "*" or word == key[at]):
                following.add(at + 1)
        if not following:
            return False
        reachable = following
    return len(key) in reachable


def headers_match(arguments: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Headers exchange: `x-match` all (default) or any of the binding's other arguments."""
    wanted = {k: v for k, v in arguments.items() if not k.startswith("x-")}
    if arguments.get("x-match", "all") == "any":
        return any(headers.get(k) == v for k, v in wanted.items())
    return all(headers.get(k) == v for k, v in wanted.items())
