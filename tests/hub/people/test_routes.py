"""Profiles and the directory through REST, on both backends: who may write what, who is found."""

import io
import uuid

import pytest
from backends import SECRET
from hub_server import RunningHub, hub_fixture
from PIL import Image
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def run() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


async def test_a_person_writes_their_profile_and_anyone_reads_it(hub: RunningHub) -> None:
    tag = run()
    ana, bo = Api(hub, f"{tag}ana"), Api(hub, f"{tag}bo")
    made = await ana.call("PUT", f"/api/people/{ana.user}", {"displayName": "Ana Lima"}, status=201)
    assert made["displayName"] == "Ana Lima" and made["hidden"] is False and made["avatar"] is None
    again = await ana.call("PUT", f"/api/people/{ana.user}", {"avatar": "https://example.org/ana.png"})
    assert (again["displayName"], again["avatar"]) == ("Ana Lima", "https://example.org/ana.png")
    assert await bo.call("GET", f"/api/people/{ana.user}") == again
    cleared = await ana.call("PUT", f"/api/people/{ana.user}", {"displayName": ""})
    assert cleared["displayName"] == ana.user  # an empty name unsets it


async def test_the_directory_finds_by_the_start_of_a_name(hub: RunningHub) -> None:
    tag = run()
    ana, bo = Api(hub, f"{tag}ana"), Api(hub, f"{tag}bo")
    await ana.call("PUT", f"/api/people/{ana.user}", {"displayName": f"Ana Q{tag}"}, status=201)
    await bo.call("PUT", f"/api/people/{bo.user}", {}, status=201)
    found = await bo.call("GET", "/api/people", params={"q": tag.upper()})
    assert [p["username"] for p in found] == [ana.user, bo.user]
    assert [p["username"] for p in await bo.call("GET", "/api/people", params={"q": f"q{tag}"})] == [ana.user]
    assert len(await bo.call("GET", "/api/people", params={"q": tag, "limit": "1"})) == 1


async def test_a_hidden_person_is_left_out_of_other_peoples_searches(hub: RunningHub) -> None:
    tag = run()
    admin, shy, bo = Api(hub, f"{tag}admin", roles=["admin"]), Api(hub, f"{tag}shy"), Api(hub, f"{tag}bo")
    await shy.call("PUT", f"/api/people/{shy.user}", {}, status=201)
    await bo.call("PUT", f"/api/people/{bo.user}", {}, status=201)
    await admin.call("PUT", f"/api/people/{shy.user}", {"hidden": True})
    assert [p["username"] for p in await bo.call("GET", "/api/people", params={"q": tag})] == [bo.user]
    assert len(await admin.call("GET", "/api/people", params={"q": tag})) == 2
    assert len(await shy.call("GET", "/api/people", params={"q": tag})) == 2  # the hidden see everyone
    assert (await bo.call("GET", f"/api/people/{shy.user}"))["hidden"] is True  # a profile is still readable


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"hidden": True}, 403),  # only admins hide people
        ({"displayName": "x" * 201}, 400),
        ({"displayName": 5}, 400),
        ({"avatar": "javascript:alert(1)"}, 400),
        ({"avatar": "https://" + "a" * 2050}, 400),
        ({"hidden": "yes"}, 400),
    ],
)
async def test_what_a_person_may_not_write_is_refused(hub: RunningHub, body: dict, status: int) -> None:
    me = Api(hub, f"{run()}me")
    await me.refused("PUT", f"/api/people/{me.user}", status, json=body)
    await me.refused("GET", f"/api/people/{me.user}", 404)  # nothing half-written


async def test_no_one_writes_another_persons_profile(hub: RunningHub) -> None:
    tag = run()
    ana, mallory = Api(hub, f"{tag}ana"), Api(hub, f"{tag}mallory")
    await ana.call("PUT", f"/api/people/{ana.user}", {"displayName": "Ana"}, status=201)
    body = await mallory.refused("PUT", f"/api/people/{ana.user}", 403, json={"displayName": "Mallory"})
    assert body["error"] == "Forbidden"
    assert (await ana.call("GET", f"/api/people/{ana.user}"))["displayName"] == "Ana"
    admin = Api(hub, f"{tag}admin", roles=["admin"])
    assert (await admin.call("PUT", f"/api/people/{ana.user}", {"displayName": "Ana L."}))[
        "displayName"
    ] == "Ana L."


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/people", {"q": "x" * 65}, 400),
        ("/api/people", {"limit": "0"}, 400),
        ("/api/people", {"limit": "101"}, 400),
        ("/api/people", {"limit": "ten"}, 400),
        ("/api/people/nobody-of-this-name", {}, 404),
        ("/api/people/amq.gen", {}, 400),  # not a user name
    ],
)
async def test_bad_reads_are_refused(hub: RunningHub, path: str, params: dict, status: int) -> None:
    await Api(hub, f"{run()}me").refused("GET", path, status, params=params)


def picture(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (20, 90, 200, 255)).save(out, "PNG")
    return out.getvalue()


async def test_an_uploaded_avatar_comes_in_three_sizes_and_only_its_person_changes_it(
    hub: RunningHub,
) -> None:
    tag = run()
    ana, bo = Api(hub, f"{tag}ana"), Api(hub, f"{tag}bo")
    path = f"/api/people/{ana.user}/avatar"
    made = await ana.call("PUT", path, files={"file": ("me.png", picture(500, 300))}, status=201)
    assert made["avatar"] == path
    for size, expected in (("mini", (24, 14)), ("normal", (96, 58)), ("large", (250, 150))):
        response = await bo.http.get(f"{path}/{size}")
        assert response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == expected
    assert (await bo.http.get(path)).content == (await bo.http.get(f"{path}/normal")).content
    await bo.refused("PUT", path, 403, files={"file": ("x.png", picture(10, 10))})
    await bo.refused("DELETE", path, 403)
    await ana.refused("PUT", path, 400, files={"file": ("x.png", b"<svg onload=alert(1)>")})
    await ana.refused("GET", f"{path}/huge", 404)
    with_url = await ana.call("PUT", f"/api/people/{ana.user}", {"avatar": "https://example.org/a.png"})
    assert with_url["avatar"] == "https://example.org/a.png"  # a URL given takes the picture's place
    await ana.refused("GET", path, 404)
    await ana.call("PUT", path, files={"file": ("me.png", picture(50, 50))})
    await ana.call("DELETE", path, status=204)
    await bo.refused("GET", f"{path}/large", 404)
    assert (await bo.call("GET", f"/api/people/{ana.user}"))["avatar"] is None
