"""A person's profile, as stored and as the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Person:
    username: str
    display_name: str = ""  # empty: shown as the username
    avatar: str = ""  # an http(s) URL, or empty
    hidden: bool = False  # left out of other people's directory searches (MAX's NonVisible)
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "objectType": "person",
            "username": self.username,
            "displayName": self.display_name or self.username,
            "avatar": self.avatar or None,
            "hidden": self.hidden,
            "published": self.created,
        }

    def search_keys(self) -> set[str]:
        """What a directory search matches the start of: the username and each word of the name."""
        return {self.username.lower(), *self.display_name.lower().split()}
