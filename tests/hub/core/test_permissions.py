"""Grants and the checks of destinations, without a server."""

from pathlib import Path

import pytest
from hutch.hub.auth import Identity
from hutch.hub.core.permissions import Grant, Grants, check
from hutch.protocol import StompError
from hutch.protocol.destinations import parse_destination


class NoConversations:
    async def is_member(self, user: str, cid: str) -> bool:
        return cid == "mine"


async def allowed(
    user: str, destination: str, *, subscribe: bool, grants: Grants | None = None, roles=()
) -> bool:
    try:
        await check(
            Identity(user, roles=frozenset(roles)),
            parse_destination(destination),
            subscribe=subscribe,
            conversations=NoConversations(),  # type: ignore[arg-type]
            grants=grants or Grants(),
        )
    except StompError as error:
        assert error.message == "access refused" and error.detail
        return False
    return True


@pytest.mark.parametrize(
    ("user", "destination", "subscribe", "expected"),
    [
        ("ana", "/topic/ana:news", True, True),
        ("ana", "/topic/ana.news", True, False),  # a dot is not the user's: ana.smith's names start so
        ("ana", "/queue/ana.smith:inbox", True, False),
        ("ana.smith", "/queue/ana.smith:inbox", True, True),
        ("ana", "/exchange/ana.subscribe", True, True),
        ("ana", "/exchange/bob.subscribe", True, False),
        ("ana", "/exchange/ana.publish/mine.messages", False, True),
        ("ana", "/exchange/ana.publish/theirs.messages", False, False),
        ("ana", "/exchange/ana.publish/internal", False, True),
        ("ana", "/exchange/conversations/mine.*", True, True),
        ("ana", "/exchange/conversations/theirs.*", True, False),
        ("ana", "/exchange/conversations/#", True, False),
        ("ana", "/exchange/hutch.control", True, False),
        ("ana", "/exchange/amq.direct/x", False, False),
        ("ana", "/queue/messages", True, False),
        ("ana", "/reply-queue/hutch.gen-abc", False, True),
        ("ana", "/reply-queue/ana:inbox", False, False),
    ],
)
async def test_default_grants(user: str, destination: str, subscribe: bool, expected: bool) -> None:
    assert await allowed(user, destination, subscribe=subscribe) is expected


async def test_admins_reach_all_but_the_hubs_names() -> None:
    assert await allowed("boss", "/exchange/amq.direct/x", subscribe=False, roles=["admin"])
    assert await allowed("boss", "/queue/messages", subscribe=True, roles=["admin"])
    assert not await allowed("boss", "/exchange/hutch.control", subscribe=True, roles=["admin"])


async def test_grants_from_a_file_are_per_role_and_a_union(tmp_path: Path) -> None:
    path = tmp_path / "grants.toml"
    path.write_text("[user]\ntopic_read = '^{user}:'\n\n[bots]\nconfigure = '^work\\.'\nread = '^work\\.'\n")
    grants = Grants.from_file(path)
    assert await allowed("ana", "/topic/ana:x", subscribe=True, grants=grants)
    assert not await allowed("ana", "/topic/ana:x", subscribe=False, grants=grants)  # topic_write left out
    assert not await allowed("ana", "/queue/work.jobs", subscribe=True, grants=grants)
    assert await allowed("bot1", "/queue/work.jobs", subscribe=True, grants=grants, roles=["bots"])


def test_a_grants_file_with_an_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "grants.toml"
    path.write_text("[user]\nwrite_all = '.*'\n")
    with pytest.raises(ValueError, match="write_all"):
        Grants.from_file(path)


def test_user_expands_escaped() -> None:
    grant = Grant(read="^{user}:")
    assert grant.allows("read", "a.b", "a.b:x") and not grant.allows("read", "a.b", "aXb:x")
