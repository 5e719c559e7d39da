"""The destination grammar of RabbitMQ's STOMP plugins, mapped onto broker operations.

/exchange/<x>[/<key>]   publish to x with key; subscribe to x with key as binding
/topic/<key>            the same on amq.topic
/queue/<q>              the shared queue q, declared on first use
/amq/queue/<q>          the existing queue q, never declared
/temp-queue/<name>      only in `reply-to`: a private reply queue of the session
/reply-queue/<q>        where replies to a temp-queue go (SEND only)
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

from hutch.protocol import StompError, Wording, names


class Kind(enum.Enum):
    EXCHANGE = "exchange"
    TOPIC = "topic"
    QUEUE = "queue"
    AMQ_QUEUE = "amq/queue"
    TEMP_QUEUE = "temp-queue"
    REPLY_QUEUE = "reply-queue"


@dataclass(frozen=True, slots=True)
class Destination:
    kind: Kind
    exchange: str  # where a SEND publishes ("" is the default exchange)
    key: str  # its routing key, or a subscription's binding key
    name: str = ""  # the queue, or the temp-queue's name

    @property
    def is_queue(self) -> bool:
        return self.kind in (Kind.QUEUE, Kind.AMQ_QUEUE, Kind.REPLY_QUEUE)


_WORDS = {  # how RabbitMQ names each kind in its errors
    Kind.EXCHANGE: "exchange",
    Kind.TOPIC: "topic",
    Kind.QUEUE: "queue",
    Kind.AMQ_QUEUE: "amqqueue",
    Kind.TEMP_QUEUE: "temp-queue",
    Kind.REPLY_QUEUE: "reply-queue",
}

_PREFIXES = (
    ("/exchange/", Kind.EXCHANGE),
    ("/topic/", Kind.TOPIC),
    ("/queue/", Kind.QUEUE),
    ("/amq/queue/", Kind.AMQ_QUEUE),
    ("/temp-queue/", Kind.TEMP_QUEUE),
    ("/reply-queue/", Kind.REPLY_QUEUE),
)
_BARE = {prefix.rstrip("/"): kind for prefix, kind in _PREFIXES}


# What AMQP takes (and RabbitMQ checks): exchange and queue names of at most 127 of these
# characters, routing keys of at most 255 bytes. Both brokers are held to it.
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,127}", re.ASCII)
MAX_KEY_BYTES = 255


@lru_cache(maxsize=4096)  # a client sends to a few destinations, again and again
def parse_destination(raw: str) -> Destination:
    destination = _parse(raw)
    names = [destination.exchange] if destination.kind is Kind.EXCHANGE else []
    if destination.name:
        names.append(destination.name)
    for name in names:
        if not _NAME.fullmatch(name):
            raise StompError(
                Wording.INVALID_DESTINATION,
                f"'{name[:130]}' is not an exchange or queue name: at most 127 ASCII letters, digits, '_', '.', ':' or '-'",
            )
    if len(destination.key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise StompError(Wording.INVALID_DESTINATION, f"a routing key is at most {MAX_KEY_BYTES} bytes")
    return destination


def _parse(raw: str) -> Destination:
    for prefix, kind in _PREFIXES:  # noqa: B007  (the match below uses the found kind)
        if raw.startswith(prefix):
            rest = raw[len(prefix) :]
            break
    else:
        if (kind := _BARE.get(raw)) is not None:  # "/queue" and the like: a kind naming nothing
            raise StompError(Wording.INVALID_DESTINATION, f"'' is not a valid {_WORDS[kind]} destination\n")
        raise StompError(
            Wording.UNKNOWN_DESTINATION,
            f"'{raw[:200]}' is not a valid destination; use /exchange/, /topic/, /queue/, /amq/queue/ or /temp-queue/",
        )
    # As RabbitMQ: a name is one path segment; only an exchange is followed by its key.
    name, _, key = rest.partition("/") if kind is Kind.EXCHANGE else (rest, "", "")
    if not name or "/" in name or "/" in key:
        raise StompError(
            Wording.INVALID_DESTINATION, f"'/{rest[:200]}' is not a valid {_WORDS[kind]} destination\n"
        )
    match kind:
        case Kind.EXCHANGE:
            return Destination(kind, names.as_broker_writes_it(name), key)
        case Kind.TOPIC:
            return Destination(kind, "amq.topic", rest)
        case Kind.TEMP_QUEUE:
            return Destination(kind, "", "", rest)
        case _:
            return Destination(kind, "", rest, rest)


def destination_of(exchange: str, routing_key: str) -> str:
    """The `destination` a MESSAGE shows for what was published to exchange with key."""
    if exchange == "amq.topic":
        return f"/topic/{routing_key}"
    if exchange == "":
        return f"/queue/{routing_key}"
    return f"/exchange/{exchange}/{routing_key}" if routing_key else f"/exchange/{exchange}"
