"""Mentions: each member named with `@` in a stored message hears of it in their feed."""

from __future__ import annotations

from typing import Any

from hutch.hub.conversations.store import ConversationStore
from hutch.hub.notifications.events import MENTION, Notify, mentioned


async def tell_mentioned(
    notify: Notify | None,
    store: ConversationStore,
    sender: str,
    cid: str,
    stored_id: str,
    message: dict[str, Any],
) -> None:
    """Once, when the message is first stored; never the sender, never a non-member."""
    text = message.get("data", {}).get("text") if isinstance(message.get("data"), dict) else None
    if notify is None or not isinstance(text, str) or "@" not in text:
        return
    conversation = await store.conversation(cid)
    members = set(conversation.members) if conversation else set()
    for user in mentioned(text):
        if user in members and user != sender:
            properties = {"target": cid, "by": sender, "message": stored_id}
            await notify(user, MENTION, f"{sender} mentioned you: {text}"[:200], properties)
