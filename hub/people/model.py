"""A person's profile, as stored and as the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Person:
    username: str
    display_name: str = ""  # empty: shown as the username
    avatar: str = ""  # an http(s) URL, or empty
    picture: bool = False  # an uploaded avatar, which `avatar` then points at
    hidden: bool = False  # left out of other people's directory searches (MAX's NonVisible)
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "objectType": "person",
            "username": self.username,
            "displayName": self.display_name or self.username,
            "avatar": f"/api/people/{self.username}/avatar" if self.picture else self.avatar or None,
            "hidden": self.hidden,
            "published": self.created,
        }

    def fields(self) -> dict[str, Any]:
        """What a store keeps."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "avatar": self.avatar,
            "picture": self.picture,
            "hidden": self.hidden,
            "created": self.created,
        }

    def search_keys(self) -> set[str]:
        """What a directory search matches the start of: the username and each word of the name."""
        return {self.username.lower(), *self.display_name.lower().split()}
