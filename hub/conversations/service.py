"""Conversation rules: who is in, who owns, what is said, what was read.

Every change of membership changes the broker bindings at once (MAX topology),
so that a removed member receives nothing more. Refusals are `hub.errors.Refused`
kinds, which carry the reply they cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuids
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hutch.hub.auth import Identity
from hutch.hub.broker import topology
from hutch.hub.broker.base import Broker, Message
from hutch.hub.conversations.batching import TogetherAppends
from hutch.hub.conversations.envelopes import envelope
from hutch.hub.conversations.mentions import tell_mentioned
from hutch.hub.conversations.model import Conversation, StoredMessage
from hutch.hub.conversations.store import ConversationStore
from hutch.hub.conversations.stored import marks, unstorable
from hutch.hub.errors import Forbidden, Invalid, NotFound
from hutch.hub.messages.encoding import RULES, WIRE
from hutch.hub.notifications.events import ADDED, Notify
from hutch.protocol import names
from hutch.rules import content_type, encode

MAX_MEMBERS = 200
MEMBERSHIP_KEPT = 30.0  # seconds a node keeps a member's yes, at most


MemberChange = Callable[[str, str, bool], Awaitable[None]]  # (cid, user, added)


def not_found(cid: str) -> NotFound:
    return NotFound(f"there is no conversation '{cid}'")


@dataclass(slots=True)
class Summary:
    conversation: Conversation
    last_message: StoredMessage | None
    unread: int


class Conversations:
    def __init__(
        self,
        store: ConversationStore,
        broker: Broker,
        on_member_change: MemberChange | None = None,
        notify: Notify | None = None,
        *,
        store_on_send: bool = False,
        store_linger: float = 0.0,
    ):
        self.store = store
        self.broker = broker
        self.store_on_send = store_on_send  # chat messages stored before they are published (`stored`)
        self._appends = TogetherAppends(store, linger=store_linger)
        self.stored_and_sent = 0  # chat messages this node stored on send (a metric)
        self.on_member_change = on_member_change  # the node's user streams follow membership
        self.notify = notify  # the feed of each member added
        self._membership: dict[tuple[str, str], float] = {}  # (cid, user) -> checked until

    # -- membership ----------------------------------------------------------

    async def create(
        self, creator: Identity, participants: list[str], name: str = ""
    ) -> tuple[Conversation, bool]:
        members = list(dict.fromkeys([creator.user, *participants]))
        for member in members:
            names.check_user(member)
        if len(members) < 2:
            raise Invalid("a conversation needs at least one other participant")
        if len(members) > MAX_MEMBERS:
            raise Invalid(f"a conversation has at most {MAX_MEMBERS} participants")
        if len(members) == 2 and (existing := await self.store.pair(*members)):
            conversation = await self.store.conversation(existing)
            if conversation is not None:
                return conversation, False
        group = len(members) > 2
        conversation = Conversation(
            uuids.uuid4().hex[:16],
            name or ", ".join(members),
            members,
            creator.user if group else None,
            group,
            time.time(),
        )
        for member in members:
            await topology.add_member(self.broker, conversation.id, member)
        await self.store.put_conversation(conversation)
        for member in members:
            await self._changed(conversation.id, member, added=True)
            if member != creator.user:
                await self._tell_added(conversation, member, creator.user)
        return conversation, True

    async def get(self, identity: Identity, cid: str) -> Conversation:
        conversation = await self.store.conversation(cid)
        if conversation is None:
            raise not_found(cid)
        if identity.user not in conversation.members and not identity.is_admin:
            raise Forbidden(f"you are not a participant of conversation '{cid}'")
        return conversation

    async def is_member(self, user: str, cid: str) -> bool:
        # A SEND checks this every time, so a yes is kept: until a membership change drops it
        # (every node is told of each), at most MEMBERSHIP_KEPT. What a stale yes lets through
        # goes nowhere: RabbitMQ routes a member's messages only, and a store that takes a
        # message as it is sent checks membership itself (`members_only`).
        if self._membership.get((cid, user), 0.0) > time.monotonic():
            return True
        conversation = await self.store.conversation(cid)
        member = conversation is not None and user in conversation.members
        if member:
            self.remember_member(user, [cid])
        return member

    def remember_member(self, user: str, cids: list[str]) -> None:
        """The store said just now that `user` is in `cids`: SENDs there need not ask again. A
        stream that opens says so of all the user's conversations, so that the first SENDs of
        many users at once do not each wait for the store."""
        if len(self._membership) > 100_000:  # many gone by: start again
            self._membership.clear()
        until = time.monotonic() + MEMBERSHIP_KEPT
        for cid in cids:
            self._membership[(cid, user)] = until

    async def rename(self, identity: Identity, cid: str, name: str) -> Conversation:
        conversation = await self.get(identity, cid)
        self._owner_only(identity, conversation, "rename")
        conversation.name = name
        await self.store.put_conversation(conversation)
        return conversation

    async def delete(self, identity: Identity, cid: str) -> None:
        conversation = await self.get(identity, cid)
        self._owner_only(identity, conversation, "delete")
        for member in conversation.members:
            await topology.remove_member(self.broker, cid, member)
        await self.store.delete_conversation(cid)
        self._forget(cid)
        for member in conversation.members:
            await self._changed(cid, member, added=False)

    async def add_member(self, identity: Identity, cid: str, user: str) -> Conversation:
        conversation = await self.get(identity, cid)
        if not conversation.group:
            raise Invalid("a conversation of two cannot grow; start a group instead")
        self._owner_only(identity, conversation, "add participants to")
        if user in conversation.members:
            return conversation
        if len(conversation.members) >= MAX_MEMBERS:
            raise Invalid(f"a conversation has at most {MAX_MEMBERS} participants")
        names.check_user(user)
        await topology.add_member(self.broker, cid, user)
        conversation.members.append(user)
        await self.store.put_conversation(conversation)
        await self._changed(cid, user, added=True)
        await self._tell_added(conversation, user, identity.user)
        return conversation

    async def _tell_added(self, conversation: Conversation, user: str, by: str) -> None:
        if self.notify is not None:
            message = f"{by} added you to {conversation.name}"[:200]
            await self.notify(user, ADDED, message, {"target": conversation.id, "by": by})

    async def remove_member(self, identity: Identity, cid: str, user: str) -> Conversation:
        """The owner of a group removes anyone; anyone may leave."""
        conversation = await self.get(identity, cid)
        if user != identity.user:
            if not conversation.group and not identity.is_admin:
                raise Forbidden("in a conversation of two each may only leave it")
            self._owner_only(identity, conversation, "remove participants from")
        if user not in conversation.members:
            raise NotFound(f"'{user}' is not a participant of '{cid}'")
        await topology.remove_member(self.broker, cid, user)
        conversation.members.remove(user)
        if conversation.owner == user:
            conversation.owner = conversation.members[0] if conversation.members else None
        self._forget(cid)
        if conversation.members:
            await self.store.put_conversation(conversation)
        else:
            await self.store.delete_conversation(cid)
        await self._changed(cid, user, added=False)  # after the store: every node checks it there
        return conversation

    async def transfer(self, identity: Identity, cid: str, new_owner: str) -> Conversation:
        conversation = await self.get(identity, cid)
        if not conversation.group:
            raise Invalid("a conversation of two has no owner to change")
        self._owner_only(identity, conversation, "transfer")
        if new_owner not in conversation.members:
            raise Invalid(f"'{new_owner}' is not a participant of '{cid}'")
        conversation.owner = new_owner
        await self.store.put_conversation(conversation)
        return conversation

    async def _changed(self, cid: str, user: str, *, added: bool) -> None:
        if self.on_member_change is not None:
            await self.on_member_change(cid, user, added)

    def _owner_only(self, identity: Identity, conversation: Conversation, action: str) -> None:
        if conversation.group and conversation.owner != identity.user and not identity.is_admin:
            raise Forbidden(f"only the owner may {action} conversation '{conversation.id}'")

    def _forget(self, cid: str) -> None:
        for key in [k for k in self._membership if k[0] == cid]:
            del self._membership[key]

    def forget_member(self, cid: str, user: str) -> None:
        """Membership changed (maybe on another node): ask the store next time."""
        self._membership.pop((cid, user), None)

    # -- messages ------------------------------------------------------------

    async def post(
        self, identity: Identity, cid: str, data: dict[str, Any], uuid: str | None = None
    ) -> dict[str, Any]:
        """Send a message as `identity`, through the broker like a STOMP SEND."""
        conversation = await self.get(identity, cid)
        if identity.user not in conversation.members:  # routing would drop it: say so
            raise Forbidden(f"only participants post to conversation '{cid}'")
        message = envelope(identity.user, "add", "message", data, cid, uuid)
        key = names.message_key(cid)
        if not self.store_on_send:
            await self.publish(identity.user, key, message)
            return message
        await self.store_and_send(
            identity.user,
            cid,
            message,
            lambda marked: self.publish_to(names.CONVERSATIONS, key, message, marked),
        )
        return message

    async def store_and_send(
        self,
        sender: str,
        cid: str,
        message: dict[str, Any],
        publish: Callable[[dict[str, str]], Awaitable[None]],
    ) -> None:
        """Store a chat message, then `publish` it to `conversations` with the marks that say so
        (`stored`): the store, not a binding, checks the sender is a member. A uuid
        stored and sent before is a repeat (a retry after a lost receipt): neither stored nor sent
        again; one stored but not known to be sent (its node died before it published, or lost
        Redis's answer and tried again) is sent now, with its stored id. A publish that fails takes
        the message back out of history, so that its retry is no repeat. `Invalid` if it would
        not read back."""
        if (problem := unstorable(cid, message)) is not None:
            raise Invalid(f"the message cannot be stored: {problem}")
        uuid = message.get("uuid") if isinstance(message.get("uuid"), str) else None
        stored_id, new = await self._appends.append(cid, sender, message, uuid)
        if not new:
            return
        try:
            await publish(marks(stored_id, uuid, sender, self.broker.login))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.unstore(cid, stored_id, uuid))
            raise
        if uuid is not None:
            await self.store.mark_sent(uuid, stored_id)
        self.stored_and_sent += 1
        await tell_mentioned(self.notify, self.store, sender, cid, stored_id, message)

    async def publish(
        self, sender: str, key: str, message: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """Publish as `sender`: through their `.publish` exchange, as their clients do."""
        await self.publish_to(names.publish_exchange(sender), key, message, headers)

    async def publish_to(
        self, exchange: str, key: str, message: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = encode(message, WIRE, RULES)
        wire = {"content-type": content_type(WIRE, RULES), "persistent": "true", **(headers or {})}
        await self.broker.publish(exchange, key, Message(body, wire))

    async def messages(
        self, identity: Identity, cid: str, *, before: str | None, after: str | None, limit: int
    ) -> list[StoredMessage]:
        await self.get(identity, cid)
        return (await self.store.history(cid, before=before, after=after, limit=limit)).messages

    async def mark_read(self, identity: Identity, cid: str, message_id: str) -> None:
        """Move the read cursor and tell the members: the "read" check MAX lacked."""
        conversation = await self.get(identity, cid)
        if identity.user not in conversation.members:  # an admin reading along has no cursor here
            raise Forbidden(f"only participants mark conversation '{cid}' read")
        await self.store.mark_read(cid, identity.user, message_id)
        receipt = envelope(identity.user, "read", "conversation", {"id": message_id}, cid)
        await self.publish(identity.user, names.message_key(cid, "notifications"), receipt)

    async def read_positions(self, identity: Identity, cid: str) -> dict[str, str | None]:
        """Where each participant has read up to: the "read" checks a page shows after a reload."""
        conversation = await self.get(identity, cid)
        return {member: await self.store.read_cursor(cid, member) for member in conversation.members}

    async def unread_counts(self, identity: Identity) -> dict[str, int]:
        return {
            cid: await self.store.unread(cid, identity.user)
            for cid in await self.store.conversations_of(identity.user)
        }

    async def summaries(self, identity: Identity) -> list[Summary]:
        found = []
        for cid in await self.store.conversations_of(identity.user):
            conversation = await self.store.conversation(cid)
            if conversation is None:
                continue
            last = (await self.store.history(cid, limit=1)).messages
            unread = await self.store.unread(cid, identity.user)
            found.append(Summary(conversation, last[0] if last else None, unread))
        return found
