"""Who may send to and subscribe to which destination: default deny, in RabbitMQ's terms.

Checked in this order; the first rule that decides, decides:

1. Names reserved for the hub are never a client's: `hutch.*` (node queues, the control
   exchange, durable subscription and reply queues) for anyone, admins included, but for
   sending to a reply queue one was given in `reply-to`; `amq.*` (but `/topic/`, which the
   hub maps onto `amq.topic`) and the MAX names (`conversations`, `activity`, `messages`,
   `push`, `messages.dead`) for everyone but admins.
2. Admins (the `admin` role) may do anything else.
3. The MAX exchanges: a user subscribes to their own `/exchange/<self>.subscribe` and to
   `/exchange/conversations/<cid>.<kind>` of conversations they are in, and sends to
   `/exchange/<self>.publish/internal` and `/exchange/<self>.publish/<cid>.<kind>` of
   conversations they are in; never to other users' exchanges.
4. Everything else by the grants of the user's roles (`Grants`), as RabbitMQ's
   configure/write/read permissions on exchange and queue names and its topic permissions
   on `/topic/` keys; every signed-in user has the role `user`.

Every refusal is an ERROR "access refused" saying what was refused.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.broker.base import REPLY_QUEUE_PREFIX
from hutch.protocol import StompError, names
from hutch.protocol.destinations import Destination, Kind
from hutch.protocol.names import broker_name

if TYPE_CHECKING:
    from hutch.hub.conversations.service import Conversations

EVERY_USER = "user"  # the role every signed-in user has
OPERATIONS = ("configure", "write", "read", "topic_write", "topic_read")
# The default: names and keys that start with the user's own name and a colon. Not a dot:
# user names may hold dots, and `ana.` would then cover the names of `ana.smith` too; no user
# name holds a colon (names.py).
_OWN = r"^{user}:"


def refuse(what: str) -> StompError:
    return StompError("access refused", what)


@dataclass(frozen=True)
class Grant:
    """One role's patterns: `{user}` stands for the login (as a broker name, regex-escaped)."""

    configure: str = _OWN  # queues one may declare (/queue/<self>:<name>)
    write: str = _OWN  # exchanges one may publish to, queues one may send to
    read: str = _OWN  # exchanges one may subscribe to, queues one may consume
    topic_write: str = _OWN  # routing keys of /topic/ one may send to
    topic_read: str = _OWN  # binding keys of /topic/ one may subscribe to

    def allows(self, operation: str, user: str, name: str) -> bool:
        pattern = getattr(self, operation).replace("{user}", re.escape(broker_name(user)))
        return _compiled(pattern).search(name) is not None  # unanchored, as RabbitMQ matches


_patterns: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _patterns.get(pattern)
    if compiled is None:
        if len(_patterns) > 10_000:
            _patterns.clear()
        compiled = _patterns[pattern] = re.compile(pattern)
    return compiled


class Grants:
    """Per role, what it may configure, write and read; a user holds the union of their roles'."""

    def __init__(self, by_role: dict[str, Grant] | None = None):
        self.by_role = {EVERY_USER: Grant()} if by_role is None else by_role

    @classmethod
    def from_file(cls, path: Path) -> Grants:
        """A TOML file, one table per role: `[user]`, `[bots]`..., keys as in `Grant`."""
        document = tomllib.loads(path.read_text())
        by_role: dict[str, Grant] = {}
        for role, table in document.items():
            unknown = set(table) - set(OPERATIONS) if isinstance(table, dict) else {"(not a table)"}
            if unknown:
                raise ValueError(f"{path}: role '{role}' has unknown keys {sorted(unknown)}")
            for pattern in table.values():
                re.compile(pattern.replace("{user}", "user"))  # a bad pattern fails at start, named
            by_role[role] = Grant(**{op: table.get(op, "^$") for op in OPERATIONS})
        return cls(by_role)

    def allows(self, identity: Identity, operation: str, name: str) -> bool:
        roles = (EVERY_USER, *identity.roles)
        return any(
            grant.allows(operation, identity.user, name)
            for role in roles
            if (grant := self.by_role.get(role)) is not None
        )


async def check(
    identity: Identity,
    destination: Destination,
    *,
    subscribe: bool,
    conversations: Conversations,
    grants: Grants,
    durable: bool = False,
) -> None:
    verb = "subscribe to" if subscribe else "send to"
    _reserved(identity, destination, subscribe=subscribe)
    if identity.is_admin:
        return
    user = identity.user
    kind = destination.kind
    name = destination.exchange if kind is Kind.EXCHANGE else destination.name
    if kind is Kind.EXCHANGE:
        if (owner := names.user_exchange_owner(name)) is not None:
            await _own_exchange(user, owner, destination.key, subscribe, conversations)
            return
        if name == names.CONVERSATIONS and subscribe:
            if durable:
                raise refuse(
                    f"a durable subscription reaches conversations through /exchange/"
                    f"{names.subscribe_exchange(user)}, not {names.CONVERSATIONS}"
                )
            await _conversation_key(user, destination.key, conversations, allow_internal=False)
            return
    needed = _operations(kind, subscribe)
    subject = destination.key if kind is Kind.TOPIC else name
    for operation in needed:
        if not grants.allows(identity, operation, subject):
            what = "the topic key" if kind is Kind.TOPIC else kind.value
            raise refuse(f"{user} may not {verb} {what} '{subject}' ({operation} permission)")


def _operations(kind: Kind, subscribe: bool) -> tuple[str, ...]:
    """RabbitMQ's permissions for what the STOMP adapter does with a destination."""
    match kind:
        case Kind.TOPIC:
            return ("topic_read",) if subscribe else ("topic_write",)
        case Kind.QUEUE:  # declared on first use
            return ("configure", "read") if subscribe else ("configure", "write")
        case Kind.TEMP_QUEUE | Kind.REPLY_QUEUE:
            return ()  # private, or a reply queue one was handed (checked as reserved)
        case _:
            return ("read",) if subscribe else ("write",)


def _reserved(identity: Identity, destination: Destination, *, subscribe: bool) -> None:
    """Refuse names that belong to the hub or to RabbitMQ, whatever the grants say."""
    kind = destination.kind
    if kind is Kind.TOPIC or kind is Kind.TEMP_QUEUE:
        return  # the hub names the exchange (amq.topic) or the queue itself
    name = destination.exchange if kind is Kind.EXCHANGE else destination.name
    if kind is Kind.REPLY_QUEUE:
        if subscribe or not name.startswith(REPLY_QUEUE_PREFIX):
            raise refuse(f"'{name}' is not a reply queue; reply to the reply-to a message carries")
        return
    if name.startswith(names.HUB_PREFIX):
        raise refuse(f"'{name}' belongs to the hub: no client may reach it")
    if identity.is_admin:
        return
    if name.startswith("amq."):
        raise refuse(f"'{name}' belongs to the broker: only admins may reach it")
    if name in names.MAX_NAMES and not (name == names.CONVERSATIONS and kind is Kind.EXCHANGE):
        raise refuse(f"only admins may reach '{name}'")


async def _own_exchange(
    user: str, owner: tuple[str, str], key: str, subscribe: bool, conversations: Conversations
) -> None:
    if owner[0] != user:
        raise refuse(f"{user} may not reach the exchange of {owner[0]}")
    if subscribe and owner[1] == "subscribe":
        return
    if not subscribe and owner[1] == "publish":
        await _conversation_key(user, key, conversations, allow_internal=True)
        return
    verb = "subscribe to" if subscribe else "send to"
    raise refuse(f"{user} may not {verb} {broker_name(owner[0])}.{owner[1]}")


async def _conversation_key(
    user: str, key: str, conversations: Conversations, *, allow_internal: bool
) -> None:
    if allow_internal and key == names.INTERNAL_KEY:
        return
    named = names.parse_conversation_key(key)
    if named is None:
        raise refuse(f"'{key}' names no conversation; use <conversation id>.<kind>")
    cid = named[0]
    if not await conversations.is_member(user, cid):
        raise refuse(f"{user} is not a participant of conversation '{cid}'")
