"""Contexts and subscriptions, as stored, with the permission policies that govern them.

A context's `permissions` give each permission a policy. `public`: anyone signed in (to read,
or to subscribe oneself); `subscribed`: every subscriber has it; `restricted`: only subscribers
granted it (and the owner and admins). A subscriber's rights are worked out from the policy now,
plus their grants, minus their vetoes, so grants and vetoes survive a change of policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Policy(StrEnum):
    PUBLIC = "public"
    SUBSCRIBED = "subscribed"
    RESTRICTED = "restricted"


class Notifications(StrEnum):
    """What of a context reaches its subscribers live (one setting, not MAX's bool or string)."""

    NONE = "none"
    POSTS = "posts"
    COMMENTS = "comments"  # posts and comments


P, S, R = Policy.PUBLIC, Policy.SUBSCRIBED, Policy.RESTRICTED
# The policies each permission may have (as MAX), and the default when none is given.
ALLOWED: dict[str, tuple[Policy, ...]] = {
    "read": (S, P),
    "write": (S, R, P),
    "subscribe": (P, R),
    "unsubscribe": (P, R),
    "invite": (S, R),
    "kick": (S, R),
    "delete": (S, R),
    "flag": (S, R),
}
PERMISSIONS = tuple(ALLOWED)

# The community types, as uLearn sets them: open (join and leave at will), closed (the owner
# adds people, members may leave), institutional (the admins subscribe people; no one leaves).
PRESETS: dict[str, dict[str, Policy]] = {
    "open": {"read": S, "write": S, "subscribe": P, "unsubscribe": P, "invite": R, "kick": R, "delete": R, "flag": R},
    "closed": {"read": S, "write": R, "subscribe": R, "unsubscribe": P, "invite": R, "kick": R, "delete": R, "flag": R},
    "institutional": {
        "read": S, "write": R, "subscribe": R, "unsubscribe": R, "invite": R, "kick": R, "delete": R, "flag": R,
    },
}  # fmt: skip
DEFAULT_PRESET = "closed"


def context_hash(url: str) -> str:
    """The id of the context of `url`: the SHA-1 of the URL, in hex (as MAX)."""
    return hashlib.sha1(url.encode()).hexdigest()


@dataclass(slots=True)
class Context:
    url: str
    display_name: str = ""
    tags: list[str] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=lambda: dict(PRESETS[DEFAULT_PRESET]))
    notifications: str = Notifications.NONE.value
    owner: str = ""
    creator: str = ""
    created: float = 0.0

    @property
    def hash(self) -> str:
        return context_hash(self.url)

    def policy(self, permission: str) -> Policy:
        return Policy(self.permissions.get(permission, PRESETS[DEFAULT_PRESET][permission]))

    def to_json(self) -> dict[str, Any]:
        return {
            "objectType": "context",
            "hash": self.hash,
            "url": self.url,
            "displayName": self.display_name or self.url,
            "tags": self.tags,
            "permissions": {name: self.policy(name).value for name in PERMISSIONS},
            "notifications": self.notifications,
            "owner": self.owner,
            "creator": self.creator,
            "published": self.created,
        }

    def fields(self) -> dict[str, Any]:
        """What a store keeps."""
        return {
            "url": self.url,
            "display_name": self.display_name,
            "tags": self.tags,
            "permissions": self.permissions,
            "notifications": self.notifications,
            "owner": self.owner,
            "creator": self.creator,
            "created": self.created,
        }


@dataclass(slots=True)
class Subscription:
    hash: str
    username: str
    grants: list[str] = field(default_factory=list)  # permissions given beyond the policy
    vetoes: list[str] = field(default_factory=list)  # permissions taken away whatever the policy
    created: float = 0.0
    # The subscriber's own choices, each on its own (MAX tied one to the other, inverted):
    realtime: bool = True  # the context's news on their stream while they are online
    push: bool = True  # a push to their devices while they are offline

    def permissions(self, context: Context) -> list[str]:
        """What this subscriber may do in `context` now."""
        return [
            name
            for name in PERMISSIONS
            if name not in self.vetoes
            and (context.policy(name) is not Policy.RESTRICTED or name in self.grants)
        ]

    def live(self, context: Context) -> bool:
        """Whether the context's news reach this subscriber's stream as it happens."""
        return self.realtime and context.notifications != Notifications.NONE and self.may_read()

    def pushed(self, context: Context) -> bool:
        """Whether the context's news reach this subscriber's devices while they are offline."""
        return self.push and context.notifications != Notifications.NONE and self.may_read()

    def may_read(self) -> bool:
        """A subscriber reads unless vetoed: `read` is never restricted (see ALLOWED), so the
        context need not even be read to know it."""
        return "read" not in self.vetoes

    def fields(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "username": self.username,
            "grants": self.grants,
            "vetoes": self.vetoes,
            "created": self.created,
            "realtime": self.realtime,
            "push": self.push,
        }
