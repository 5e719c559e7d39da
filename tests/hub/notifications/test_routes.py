"""The feed through REST on both backends: the signed-in user's, and the seed's API for backends."""

import uuid

import pytest
from backends import SECRET
from hub_server import RunningHub, hub_fixture
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def backend(hub: RunningHub) -> Api:
    return Api(hub, f"backend{tag()}", roles=["admin"])


async def post(api: Api, user: str, category: str, message: str, **properties: str) -> dict:
    body = {"category": category, "message": message, "properties": properties}
    return await api.call("POST", f"/v1/notifications/{user}", body, status=201)


async def test_a_backend_notifies_and_the_user_reads_newest_first_and_sees(hub: RunningHub) -> None:
    ana, service = Api(hub, f"ana{tag()}"), await backend(hub)
    made = [await post(service, ana.user, "new-follower", f"follower {n}") for n in range(3)]
    assert made[0]["unseen"] is True and made[0]["created_at"].endswith("Z") and len(made[0]["id"]) == 27
    assert await ana.call("GET", "/api/notifications/unseen") == {"unseen": 3}
    response = await ana.http.get("/api/notifications")
    page = response.json()
    assert [n["message"] for n in page] == ["follower 2", "follower 1", "follower 0"]
    assert all(n["unseen"] for n in page) and response.headers["accept-ranges"] == "id"
    assert response.headers["content-range"] == f"id {made[2]['id']}..{made[0]['id']}"
    assert await ana.call("GET", "/api/notifications/unseen") == {"unseen": 0}  # the first page saw them
    assert not any(n["unseen"] for n in await ana.call("GET", "/api/notifications"))
    await ana.call("DELETE", "/api/notifications", params={"ids": f"{made[1]['id']},{'0' * 27}"}, status=204)
    assert [n["message"] for n in await ana.call("GET", "/api/notifications")] == ["follower 2", "follower 0"]
    await service.call("DELETE", f"/v1/notifications/{ana.user}", status=204)
    assert await ana.call("GET", "/api/notifications") == []


async def test_paging_by_range_and_by_query_never_skips_nor_repeats(hub: RunningHub) -> None:
    ana, service = Api(hub, f"ana{tag()}"), await backend(hub)
    ids = [(await post(service, ana.user, "note", f"n{n}"))["id"] for n in range(1000)]
    seen, header = [], "id; max=37"
    while header:
        response = await ana.http.get("/api/notifications", headers={"Range": header})
        seen += [n["id"] for n in response.json()]
        header = response.headers.get("next-range")
    assert seen == sorted(ids, reverse=True) and len(set(seen)) == 1000
    by_query, link = [], "/api/notifications?limit=100"
    while link:
        response = await ana.http.get(link)
        by_query += [n["id"] for n in response.json()]
        link = response.links.get("next", {}).get("url")
    assert by_query == seen


async def test_rollups_by_the_rules_and_rules_crud(hub: RunningHub) -> None:
    ana, service, category = Api(hub, f"ana{tag()}"), await backend(hub), f"follow{tag()}"
    await service.call(
        "PUT", f"/v1/rules/{category}", {"max_size": 3, "max_duration": "12 hours"}, status=204
    )
    assert (await service.call("GET", "/v1/rules"))[category] == {"max_size": 3, "max_duration": "12 hours"}
    for n in range(5):
        await post(service, ana.user, category, f"f{n}")
    page = await ana.call("GET", "/api/notifications")
    assert [[n["message"], *(o["message"] for o in n.get("notifications", []))] for n in page] == [
        ["f4", "f3", "f2"],
        ["f1", "f0"],
    ]
    await service.call("DELETE", f"/v1/rules/{category}", status=204)
    await service.refused("DELETE", f"/v1/rules/{category}", 404)
    assert len(await ana.call("GET", "/api/notifications")) == 5


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        (
            "POST",
            "/v1/notifications/{user}",
            {"json": {"category": "x", "message": "m", "properties": {"n": 1}}},
            400,
        ),
        ("POST", "/v1/notifications/{user}", {"json": {"category": "", "message": "m"}}, 400),
        ("POST", "/v1/notifications/{user}", {"json": {"category": "x", "message": "m" * 1001}}, 400),
        ("POST", "/v1/notifications/{user}", {"json": {"message": "m"}}, 400),
        ("PUT", "/v1/rules/x", {"json": {"max_duration": "soon"}}, 400),
        ("PUT", "/v1/rules/x", {"json": {"max_size": 0}}, 400),
        ("DELETE", "/v1/rules/never-stored-rule", {}, 404),
        ("GET", "/api/notifications", {"headers": {"Range": "created_at .."}}, 416),
        ("GET", "/api/notifications", {"headers": {"Range": "id 123.."}}, 400),
        ("GET", "/api/notifications", {"headers": {"Range": "id; max=0"}}, 400),
        ("GET", "/api/notifications", {"params": {"before": "not-an-id"}}, 400),
        ("DELETE", "/api/notifications", {"params": {"ids": "../../x"}}, 400),
        ("PUT", "/api/notifications/preferences", {"json": {"muted": "like"}}, 400),
    ],
)
async def test_bad_input_is_refused(
    hub: RunningHub, method: str, path: str, kwargs: dict, status: int
) -> None:
    service = await backend(hub)
    await service.refused(method, path.format(user=f"ana{tag()}"), status, **kwargs)


async def test_the_service_api_is_for_admins_only(hub: RunningHub) -> None:
    mallory, ana = Api(hub, f"mallory{tag()}"), f"ana{tag()}"
    await mallory.refused(
        "POST", f"/v1/notifications/{ana}", 403, json={"category": "x", "message": "forged"}
    )
    await mallory.refused("GET", f"/v1/notifications/{ana}", 403)
    await mallory.refused("DELETE", f"/v1/notifications/{ana}", 403)
    await mallory.refused("GET", "/v1/rules", 403)
    await mallory.refused("PUT", "/v1/rules/like", 403, json={"max_size": 2})
    await mallory.refused("DELETE", "/v1/rules/like", 403)


async def test_the_oldest_go_past_the_limit(hub: RunningHub) -> None:
    ana, service = Api(hub, f"ana{tag()}"), await backend(hub)
    hub.node.feeds.limit = 5
    try:
        for n in range(8):
            await post(service, ana.user, "note", f"n{n}")
    finally:
        hub.node.feeds.limit = 1000
    assert [n["message"] for n in await ana.call("GET", "/api/notifications")] == [
        "n7",
        "n6",
        "n5",
        "n4",
        "n3",
    ]


async def test_a_user_named_in_any_script_is_notified_and_located(hub: RunningHub) -> None:
    service, user = await backend(hub), f"ᑙjosé{tag()}"
    response = await service.http.post(f"/v1/notifications/{user}", json={"category": "c", "message": "m"})
    assert response.status_code == 201, response.text
    located = await service.http.get(response.headers["location"])
    assert [n["message"] for n in located.json()] == ["m"]
