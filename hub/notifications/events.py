"""The hub's own notifications: their categories, default rollup rules, and the `Notify` callable
other capabilities are handed (they never import the feed itself)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from hutch.hub.notifications.rollups import Rule

# notify(user, category, message, properties): properties name the `target` (a conversation or
# an activity) and `by` (who did it).
Notify = Callable[[str, str, str, dict[str, str]], Awaitable[None]]

ADDED, MENTION, COMMENT, LIKE, BROADCAST = "conversation-added", "mention", "comment", "like", "broadcast"
DEFAULT_RULES = {
    ADDED: Rule(max_size=20, max_duration="1 day"),
    MENTION: Rule(max_duration="1 hour", match_on="target"),
    COMMENT: Rule(max_duration="12 hours", match_on="target"),
    LIKE: Rule(max_duration="12 hours", match_on="target"),
}
MAX_MENTIONS = 20  # people told of one message or post

_MENTION = re.compile(r"(?<![\w@])@([\w.-]{1,64})")


def mentioned(text: str) -> list[str]:
    """The `@user`s of a text, each once, at most MAX_MENTIONS (a dot ending a sentence is not theirs)."""
    names = (name.rstrip(".") for name in _MENTION.findall(text))
    return list(dict.fromkeys(name for name in names if name))[:MAX_MENTIONS]
