"""The embedded `PeopleStore`, in process memory."""

from __future__ import annotations

from hutch.hub.people.model import Person


class MemoryPeople:
    def __init__(self) -> None:
        self._people: dict[str, Person] = {}

    async def get(self, username: str) -> Person | None:
        return self._people.get(username)

    async def put(self, person: Person) -> bool:
        new = person.username not in self._people
        self._people[person.username] = person
        return new

    async def search(self, prefix: str, limit: int, *, include_hidden: bool) -> list[Person]:
        ranked = []
        for person in self._people.values():
            matched = [key for key in person.search_keys() if key.startswith(prefix)]
            if matched and (include_hidden or not person.hidden):
                ranked.append((min(matched), person.username, person))
        return [person for _, _, person in sorted(ranked)[:limit]]
