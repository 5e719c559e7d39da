"""Contexts and subscriptions through REST, on both backends: presets, who may join, leave,
invite and kick, grants and vetoes that survive a change of policy, and every refusal."""

import uuid

import pytest
from backends import SECRET
from hub_server import RunningHub, hub_fixture
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def community(hub: RunningHub, preset: str, owner: str) -> tuple[Api, str]:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    url = f"https://school.example/{preset}/{tag()}"
    made = await admin.call(
        "POST", "/api/contexts", {"url": url, "preset": preset, "owner": owner}, status=201
    )
    return admin, made["hash"]


async def test_an_admin_creates_a_context_once(hub: RunningHub) -> None:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    body = {
        "url": f"https://school.example/{tag()}",
        "displayName": "Physics",
        "tags": ["course"],
        "preset": "open",
    }
    made = await admin.call("POST", "/api/contexts", body, status=201)
    assert made["permissions"]["subscribe"] == "public" and made["notifications"] == "none"
    again = await admin.call("POST", "/api/contexts", body | {"displayName": "Other"}, status=200)
    assert again == made  # the existing one, unchanged
    reader = Api(hub, f"ana{tag()}")
    assert await reader.call("GET", f"/api/contexts/{made['hash']}") == made
    assert made["hash"] in [c["hash"] for c in await reader.call("GET", "/api/contexts/public")]


async def test_open_closed_and_institutional_communities(hub: RunningHub) -> None:
    run = tag()
    ana, bo = Api(hub, f"ana{run}"), Api(hub, f"bo{run}")
    owner = Api(hub, f"owner{run}")
    _, open_ = await community(hub, "open", owner.user)
    _, closed = await community(hub, "closed", owner.user)
    admin, institutional = await community(hub, "institutional", owner.user)
    # open: join and leave at will
    joined = await ana.call(
        "POST", f"/api/contexts/{open_}/subscriptions", {"username": ana.user}, status=201
    )
    assert "write" in joined["permissions"] and "unsubscribe" in joined["permissions"]
    await ana.call("POST", f"/api/contexts/{open_}/subscriptions", {"username": ana.user}, status=200)
    await ana.call("DELETE", f"/api/contexts/{open_}/subscriptions/{ana.user}", status=204)
    # closed: the owner adds people, members may leave
    await ana.refused("POST", f"/api/contexts/{closed}/subscriptions", 403, json={"username": ana.user})
    member = await owner.call(
        "POST", f"/api/contexts/{closed}/subscriptions", {"username": ana.user}, status=201
    )
    assert "write" not in member["permissions"]  # write is restricted: granted one by one
    await ana.call("DELETE", f"/api/contexts/{closed}/subscriptions/{ana.user}", status=204)
    # institutional: the admins subscribe people, no one leaves
    await admin.call(
        "POST", f"/api/contexts/{institutional}/subscriptions", {"username": bo.user}, status=201
    )
    await bo.refused("DELETE", f"/api/contexts/{institutional}/subscriptions/{bo.user}", 403)


async def test_invite_and_kick_are_enforced(hub: RunningHub) -> None:
    run = tag()
    owner, ana, bo, cy = (Api(hub, f"{name}{run}") for name in ("owner", "ana", "bo", "cy"))
    _, closed = await community(hub, "closed", owner.user)
    await owner.call("POST", f"/api/contexts/{closed}/subscriptions", {"username": ana.user}, status=201)
    await ana.refused("POST", f"/api/contexts/{closed}/subscriptions", 403, json={"username": bo.user})
    await owner.call("PUT", f"/api/contexts/{closed}/permissions/{ana.user}/invite", status=201)
    await ana.call("POST", f"/api/contexts/{closed}/subscriptions", {"username": bo.user}, status=201)
    await ana.refused("DELETE", f"/api/contexts/{closed}/subscriptions/{bo.user}", 403)  # no kick
    await owner.call("PUT", f"/api/contexts/{closed}/permissions/{ana.user}/kick", status=201)
    await ana.call("DELETE", f"/api/contexts/{closed}/subscriptions/{bo.user}", status=204)
    await cy.refused("DELETE", f"/api/contexts/{closed}/subscriptions/{ana.user}", 403)  # not even subscribed


async def test_grants_and_vetoes_survive_a_change_of_policy(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    _, hash = await community(hub, "open", owner.user)
    await ana.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": ana.user}, status=201)
    vetoed = await owner.call("DELETE", f"/api/contexts/{hash}/permissions/{ana.user}/write", status=201)
    assert "write" not in vetoed["permissions"] and vetoed["vetoes"] == ["write"]
    granted = await owner.call("PUT", f"/api/contexts/{hash}/permissions/{ana.user}/flag", status=201)
    assert "flag" in granted["permissions"]
    await owner.call("PUT", f"/api/contexts/{hash}/permissions/{ana.user}/flag", status=200)  # no change
    await owner.call("PUT", f"/api/contexts/{hash}", {"preset": "closed"})
    [mine] = await ana.call("GET", f"/api/people/{ana.user}/subscriptions")
    assert "flag" in mine["permissions"] and "write" not in mine["permissions"]
    reset = await owner.call("POST", f"/api/contexts/{hash}/permissions/{ana.user}/defaults")
    assert reset["grants"] == [] and reset["vetoes"] == [] and "flag" not in reset["permissions"]


async def test_tags_are_managed_by_the_owner_and_filter_listings(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    admin, hash = await community(hub, "open", owner.user)
    assert await owner.call("PUT", f"/api/contexts/{hash}/tags", [f"t{run}", "course", "course"]) == [
        f"t{run}",
        "course",
    ]
    await ana.refused("PUT", f"/api/contexts/{hash}/tags", 403, json=["mine"])
    await ana.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": ana.user}, status=201)
    tagged = await ana.call("GET", f"/api/people/{ana.user}/subscriptions", params={"tags": f"t{run}"})
    assert [s["hash"] for s in tagged] == [hash]
    assert [c["hash"] for c in await admin.call("GET", "/api/contexts", params={"tags": f"t{run}"})] == [hash]
    await owner.call("DELETE", f"/api/contexts/{hash}/tags/course", status=204)
    await owner.refused("DELETE", f"/api/contexts/{hash}/tags/course", 404)
    await owner.call("DELETE", f"/api/contexts/{hash}/tags", status=204)
    assert await ana.call("GET", f"/api/contexts/{hash}/tags") == []


async def test_deleting_a_context_ends_its_subscriptions(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    _, hash = await community(hub, "open", owner.user)
    await ana.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": ana.user}, status=201)
    await ana.refused("DELETE", f"/api/contexts/{hash}", 403)
    await owner.call("DELETE", f"/api/contexts/{hash}", status=204)
    await ana.refused("GET", f"/api/contexts/{hash}", 404)
    assert await ana.call("GET", f"/api/people/{ana.user}/subscriptions") == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"url": "javascript:alert(1)"}, 400),
        ({"url": "https://x.example/" + "a" * 2048}, 400),
        ({"url": "https://x.example/a", "preset": "anarchy"}, 400),
        ({"url": "https://x.example/a", "preset": ["open"]}, 400),  # not even a string
        ({"url": "https://x.example/a", "permissions": {"read": "restricted"}}, 400),
        ({"url": "https://x.example/a", "permissions": {"launch": "public"}}, 400),
        ({"url": "https://x.example/a", "notifications": True}, 400),  # an enum, not MAX's bool
        ({"url": "https://x.example/a", "tags": ["x" * 65]}, 400),
        ({"url": "https://x.example/a", "tags": "course"}, 400),
        ({"url": "https://x.example/a", "owner": "amq.gen"}, 400),
    ],
)
async def test_bad_contexts_are_refused(hub: RunningHub, body: dict, status: int) -> None:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    await admin.refused("POST", "/api/contexts", status, json=body)


async def test_what_only_admins_and_owners_may_do_is_refused_to_others(hub: RunningHub) -> None:
    run = tag()
    owner, mallory = Api(hub, f"owner{run}"), Api(hub, f"mallory{run}")
    _, hash = await community(hub, "open", owner.user)
    await mallory.refused("POST", "/api/contexts", 403, json={"url": f"https://x.example/{run}"})
    await mallory.refused("GET", "/api/contexts", 403)
    await mallory.refused("PUT", f"/api/contexts/{hash}", 403, json={"preset": "open"})
    await mallory.refused("GET", f"/api/contexts/{hash}/subscriptions", 403)
    await mallory.refused("PUT", f"/api/contexts/{hash}/permissions/{mallory.user}/write", 403)
    await mallory.refused("GET", f"/api/people/{owner.user}/subscriptions", 403)
    await mallory.refused("POST", f"/api/contexts/{hash}/subscriptions", 403, json={"username": owner.user})
    await owner.refused("PUT", f"/api/contexts/{hash}/permissions/{owner.user}/launch", 400)
    await owner.refused(
        "PUT", f"/api/contexts/{hash}/permissions/{mallory.user}/write", 404
    )  # not subscribed
    await owner.refused("PUT", f"/api/contexts/{hash}", 400, json={"url": "https://elsewhere.example/"})
    await owner.refused("GET", "/api/contexts/not-a-hash", 404)
    await owner.refused("GET", f"/api/contexts/{'0' * 40}", 404)
    await owner.refused("DELETE", f"/api/contexts/{hash}/subscriptions/{mallory.user}", 404)
