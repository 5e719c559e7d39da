"""hutch's names, in one place: the rule for user names and conversation ids, and the MAX
names built from them (exchanges, routing keys), built and parsed here only.

STOMP logins, REST identities and participants, path parameters and the broker
layer all check names here, so a name the hub accepts in one place works in
every other (as exchange names on RabbitMQ, as routing-key words, as Redis keys).
Pure: the hub, its clients and bots all import it.

    user name          1-64 letters (any script), digits, '_', '-' and '.', at most 80
                       ASCII characters as a broker name; not 'amq.*' or 'hutch.*'
                       (RabbitMQ's and the hub's own names)
    conversation id    1-64 ASCII letters, digits, '_' and '-' (one routing-key word)

A user name becomes part of exchange names (`<user>.publish`); AMQP allows only
ASCII letters, digits and `-_.:` there, so `broker_name` maps the others
reversibly (see there).
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_NAME = 64
MAX_BROKER_NAME = 80  # "<name>.subscribe" and the hub's queue names stay within AMQP's 127
RESERVED_PREFIXES = ("amq.", "hutch.")

_USER = re.compile(r"[\w.-]{1,64}")  # \w: letters and digits of any script, and '_'
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
_CID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
ENCODED = ":"  # starts a broker name that stands for a user name outside plain ASCII


class BadName(ValueError):
    """A name the hub does not take; the message says which rule it broke."""


def check_user(name: str) -> str:
    """The user name itself, or BadName saying what is wrong with it."""
    if not isinstance(name, str) or not _USER.fullmatch(name):
        raise BadName(f"'{_shown(name)}' is not a user name: 1-{MAX_NAME} letters, digits, '_', '-' or '.'")
    if name.startswith(RESERVED_PREFIXES):  # as RabbitMQ reserves "amq.": case and all
        raise BadName(f"'{name}' is not a user name: names starting 'amq.' or 'hutch.' are reserved")
    if len(broker_name(name)) > MAX_BROKER_NAME:
        raise BadName(f"'{name}' is not a user name: too long once encoded for the broker")
    return name


def check_conversation(cid: str) -> str:
    if not isinstance(cid, str) or not _CID.fullmatch(cid):
        raise BadName(f"'{_shown(cid)}' is not a conversation id: 1-{MAX_NAME} letters, digits, '_' or '-'")
    return cid


def is_user(name: str) -> bool:
    try:
        check_user(name)
    except BadName:
        return False
    return True


@lru_cache(maxsize=65536)  # asked for on every message; user names are short
def broker_name(user: str) -> str:
    """The user's name as AMQP allows it in exchange names: itself when plain ASCII, else
    ':' and its punycode (`josé` -> `:jos-dma`); plain names never hold ':', so no two
    users share a broker name."""
    if _PLAIN.fullmatch(user):
        return user
    return ENCODED + user.encode("punycode").decode("ascii")


def user_of_broker_name(name: str) -> str:
    """The inverse of `broker_name`."""
    if name.startswith(ENCODED):
        return name[1:].encode("ascii").decode("punycode")
    return name


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value.encode("unicode_escape").decode("ascii")
    return text[:80] + ("..." if len(text) > 80 else "")


# -- MAX names -------------------------------------------------------------
#
#   conversations (topic)     every conversation message, key "<cid>.<kind>"
#   activity (topic)          activity streams, key "<context>"
#   <user>.publish (topic)    where a user's clients publish
#   <user>.subscribe (fanout) everything a user's devices receive
#   messages, push (queues)   for the worker and the push bridges

CONVERSATIONS = "conversations"
ACTIVITY = "activity"
MESSAGES_QUEUE = "messages"
PUSH_QUEUE = "push"
INTERNAL_KEY = "internal"  # <user>.publish -> <user>.subscribe: reach all of one's own devices
PUBLISH = ".publish"
SUBSCRIBE = ".subscribe"
HUB_PREFIX = "hutch."  # the hub's own exchanges and queues: never a client's
NOTIFICATIONS = f"{HUB_PREFIX}notifications"  # topic, key "<user>": new notifications, for push bridges
DIRECT = f"{HUB_PREFIX}direct"  # topic: admin sends to a user's devices, key "<broker name>"
EVERYONE_KEY = f"{HUB_PREFIX}everyone"  # ... to every device on every node (no user's name)
OFFLINE_KEY = f"{HUB_PREFIX}offline"  # ... to the push bridges, for recipients who are away
RECEIPTS = f"{HUB_PREFIX}receipts"  # fanout: each node's batch of delivery receipts, to every node
SENDS = f"{HUB_PREFIX}sends"  # topic: admin send requests of bots, key send|multicast|broadcast
# On the "stored" ack a worker sends: a client cannot set x-hutch-* headers (the hub strips
# them from SENDs), so an ack that has it comes from a worker: only such an ack is pushed, and
# only such an ack moves a client's recovery cursor.
STORED_HEADER = "x-hutch-stored"
# On a chat message a hub node stored as it took the SEND (`HUTCH_STORE_ON_SEND`): its history id,
# uuid and sender (the node publishes it to `conversations` itself, past the worker's queue).
# Trusted only from the hub's own broker login (`x-hutch-published-by`, RabbitMQ's checked
# user_id), since then no worker's ack follows: each node makes it for its own members.
STORED_ID_HEADER = "x-hutch-id"
STORED_UUID_HEADER = "x-hutch-uuid"
STORED_SENDER_HEADER = "x-hutch-sender"
MAX_NAMES = frozenset({CONVERSATIONS, ACTIVITY, MESSAGES_QUEUE, PUSH_QUEUE, f"{MESSAGES_QUEUE}.dead"})


def publish_exchange(user: str) -> str:
    return broker_name(user) + PUBLISH


def subscribe_exchange(user: str) -> str:
    return broker_name(user) + SUBSCRIBE


@lru_cache(maxsize=65536)
def user_exchange_owner(exchange: str) -> tuple[str, str] | None:
    """(user, "publish" or "subscribe") for a user's own exchange, else None."""
    for suffix in (PUBLISH, SUBSCRIBE):
        if exchange.endswith(suffix) and len(exchange) > len(suffix):
            try:
                return user_of_broker_name(exchange.removesuffix(suffix)), suffix[1:]
            except UnicodeError:
                return None
    return None


def sender_of(exchange: str) -> str:
    """The user whose `.publish` exchange a message came through ("" for any other exchange)."""
    owner = user_exchange_owner(exchange)
    return owner[0] if owner and owner[1] == "publish" else ""


def conversation_key(cid: str) -> str:
    """The binding key of everything about a conversation."""
    return f"{cid}.*"


def message_key(cid: str, kind: str = "messages") -> str:
    """The routing key of a conversation's chat messages (or of another kind: notifications)."""
    return f"{cid}.{kind}"


def conversation_of(routing_key: str) -> str:
    """The conversation a key "<cid>.<kind>" is about."""
    return routing_key.partition(".")[0]


def kind_of(routing_key: str) -> str:
    """What a key "<cid>.<kind>" says: messages, notifications..."""
    return routing_key.partition(".")[2]


def parse_conversation_key(key: str) -> tuple[str, str] | None:
    """(cid, kind) of a key that names one conversation, else None (no kind, or wildcards)."""
    cid, dot, kind = key.partition(".")
    if not dot or not cid or not kind or "*" in cid or "#" in cid:
        return None
    return cid, kind


def is_chat_message(exchange: str, key: str) -> bool:
    """A user's chat message: through their `.publish` exchange, with key "<cid>.messages"."""
    return bool(sender_of(exchange)) and key.endswith(".messages")


def as_broker_writes_it(exchange: str) -> str:
    """A user's exchange as a client may name it, with the user's own name (`josé.subscribe`),
    as the broker knows it (`:jos-dma.subscribe`); any other name as it is."""
    for suffix in (PUBLISH, SUBSCRIBE):
        owner = exchange.removesuffix(suffix)
        if owner != exchange and not _PLAIN.fullmatch(owner) and is_user(owner):
            return broker_name(owner) + suffix
    return exchange
