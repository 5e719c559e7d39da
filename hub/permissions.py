"""Who may subscribe to and send to which destination.

For the MAX exchanges a user may
- subscribe to `/exchange/<self>.subscribe` (their own stream) and to
  `/exchange/conversations/<cid>.<kind>` of conversations they are in;
- send to `/exchange/<self>.publish/internal` and `/exchange/<self>.publish/<cid>.<kind>`
  of conversations they are in.
`activity`, `conversations`, other users' exchanges and the work queues are for
admins (broadcast, workers). Other destinations (/topic/, /queue/, exchanges of
one's own) are open to every signed-in user unless `open_destinations` is off.
Every refusal is an ERROR "access refused" saying what was refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.auth import Identity
from hutch.hub.broker import topology
from hutch.hub.router import Destination, Kind
from hutch.protocol import StompError

if TYPE_CHECKING:
    from hutch.hub.conversations import Conversations

ADMIN_ONLY_EXCHANGES = frozenset({topology.CONVERSATIONS, topology.ACTIVITY})
WORK_QUEUES = frozenset({topology.MESSAGES_QUEUE, topology.PUSH_QUEUE, "messages.dead"})


def refuse(what: str) -> StompError:
    return StompError("access refused", what)


async def check(
    identity: Identity,
    destination: Destination,
    *,
    subscribe: bool,
    conversations: Conversations,
    open_destinations: bool,
) -> None:
    if identity.is_admin:
        return
    user = identity.user
    verb = "subscribe to" if subscribe else "send to"
    if destination.kind is Kind.EXCHANGE:
        exchange, key = destination.exchange, destination.key
        owner, dot, role = exchange.rpartition(".")
        if dot and role in ("publish", "subscribe"):
            if owner != user:
                raise refuse(f"{user} may not {verb} the exchange of {owner}")
            if subscribe and role == "subscribe":
                return
            if not subscribe and role == "publish":
                await _conversation_key(user, key, conversations, allow_internal=True)
                return
            raise refuse(f"{user} may not {verb} {exchange}")
        if exchange == topology.CONVERSATIONS and subscribe:
            await _conversation_key(user, key, conversations, allow_internal=False)
            return
        if exchange in ADMIN_ONLY_EXCHANGES:
            raise refuse(f"only admins may {verb} {exchange}")
    if destination.is_queue and destination.name in WORK_QUEUES:
        raise refuse(f"only admins may {verb} the queue {destination.name}")
    if not open_destinations and destination.kind is not Kind.TEMP_QUEUE:
        raise refuse(f"{user} may not {verb} {destination.kind.value} destinations")


async def _conversation_key(
    user: str, key: str, conversations: Conversations, *, allow_internal: bool
) -> None:
    if allow_internal and key == topology.INTERNAL_KEY:
        return
    cid, dot, kind = key.partition(".")
    if not dot or not cid or not kind or "*" in cid or "#" in cid:
        raise refuse(f"'{key}' names no conversation; use <conversation id>.<kind>")
    if not await conversations.is_member(user, cid):
        raise refuse(f"{user} is not a participant of conversation '{cid}'")
