"""The `PeopleStore` protocol: profiles by username, and the directory search.

Two backends implement it with the same behaviour, held to it by one contract test:
`memory.MemoryPeople` and `redis.RedisPeople`.
"""

from __future__ import annotations

from typing import Protocol

from hutch.hub.people.model import Person


class PeopleStore(Protocol):
    async def get(self, username: str) -> Person | None: ...

    async def put(self, person: Person) -> bool:
        """Store a profile; True when it is new."""
        ...

    async def search(self, prefix: str, limit: int, *, include_hidden: bool) -> list[Person]:
        """People whose username or a word of whose name starts with `prefix` (lower case), at
        most `limit`, in the order of what matched then by username; hidden people only when
        `include_hidden`."""
        ...
