"""Posts, timelines, likes and comments through REST, on both backends, with every refusal."""

import io
import uuid
from pathlib import Path

import pytest
from backends import SECRET
from hub_server import RunningHub, hub_fixture
from PIL import Image
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def community(hub: RunningHub, preset: str, owner: str, *members: Api) -> str:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    url = f"https://school.example/{preset}/{tag()}"
    hash = (
        await admin.call("POST", "/api/contexts", {"url": url, "preset": preset, "owner": owner}, status=201)
    )["hash"]
    for member in members:
        await admin.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": member.user}, status=201)
    return hash


async def test_members_post_and_read_a_context_and_it_reaches_their_timelines(hub: RunningHub) -> None:
    run = tag()
    owner, ana, bo = Api(hub, f"owner{run}"), Api(hub, f"ana{run}"), Api(hub, f"bo{run}")
    hash = await community(hub, "open", owner.user, ana, bo)
    post = await ana.call(
        "POST",
        f"/api/contexts/{hash}/activities",
        {"content": "Hello #Physics <script>x</script>"},
        status=201,
    )
    assert post["hashtags"] == ["physics"] and "script" not in post["object"]["content"]
    mine = await bo.call("POST", f"/api/people/{bo.user}/activities", {"content": "my own"}, status=201)
    page = await bo.call("GET", f"/api/people/{bo.user}/timeline")
    assert [a["id"] for a in page["items"]] == [mine["id"], post["id"]] and page["next"] is None
    assert [a["id"] for a in (await ana.call("GET", f"/api/contexts/{hash}/activities"))["items"]] == [
        post["id"]
    ]
    assert (await owner.call("GET", f"/api/activities/{post['id']}"))["id"] == post["id"]
    only_markup = {"content": "<script>alert(1)</script>"}  # taken, and nothing of it runs
    cleaned = await ana.call("POST", f"/api/contexts/{hash}/activities", only_markup, status=201)
    assert cleaned["object"]["content"] == ""


async def test_who_may_post_and_read_follows_the_policy_and_the_vetoes(hub: RunningHub) -> None:
    run = tag()
    owner, ana, mallory = Api(hub, f"owner{run}"), Api(hub, f"ana{run}"), Api(hub, f"mallory{run}")
    closed = await community(hub, "closed", owner.user, ana)
    await ana.refused(
        "POST", f"/api/contexts/{closed}/activities", 403, json={"content": "hi"}
    )  # write is granted
    await owner.call("PUT", f"/api/contexts/{closed}/permissions/{ana.user}/write", status=201)
    post = await ana.call("POST", f"/api/contexts/{closed}/activities", {"content": "granted"}, status=201)
    await mallory.refused("GET", f"/api/contexts/{closed}/activities", 403)
    await mallory.refused("GET", f"/api/activities/{post['id']}", 404)  # not even its existence
    await mallory.refused("POST", f"/api/activities/{post['id']}/likes", 404)
    await owner.call("DELETE", f"/api/contexts/{closed}/permissions/{ana.user}/read", status=201)
    assert (await ana.call("GET", f"/api/people/{ana.user}/timeline"))["items"] == []  # read vetoed: gone
    seen_by_mallory = await mallory.call("GET", f"/api/people/{ana.user}/activities")
    assert seen_by_mallory["items"] == []


async def test_likes_and_comments(hub: RunningHub) -> None:
    run = tag()
    owner, ana, bo = Api(hub, f"owner{run}"), Api(hub, f"ana{run}"), Api(hub, f"bo{run}")
    hash = await community(hub, "open", owner.user, ana, bo)
    post = await ana.call("POST", f"/api/contexts/{hash}/activities", {"content": "like me"}, status=201)
    path = f"/api/activities/{post['id']}"
    assert (await bo.call("POST", f"{path}/likes", status=201))["likesCount"] == 1
    assert (await bo.call("POST", f"{path}/likes", status=200))["likesCount"] == 1
    await bo.call("DELETE", f"{path}/likes", status=204)
    await bo.refused("DELETE", f"{path}/likes", 404)
    comment = await bo.call("POST", f"{path}/comments", {"content": "nice"}, status=201)
    assert [c["content"] for c in await ana.call("GET", f"{path}/comments")] == ["nice"]
    await ana.refused("DELETE", f"{path}/comments/{comment['id']}", 403)  # bo's, in owner's context
    await owner.call("DELETE", f"{path}/comments/{comment['id']}", status=204)
    await bo.refused("DELETE", path, 403)
    await ana.call("DELETE", path, status=204)
    await ana.refused("GET", path, 404)


async def test_paging_a_context_with_opaque_cursors(hub: RunningHub) -> None:
    run = tag()
    owner = Api(hub, f"owner{run}")
    hash = await community(hub, "open", owner.user)
    posted = [
        (await owner.call("POST", f"/api/contexts/{hash}/activities", {"content": f"n{n}"}, status=201))["id"]
        for n in range(25)
    ]
    seen, cursor = [], None
    while True:
        page = await owner.call(
            "GET",
            f"/api/contexts/{hash}/activities",
            params={"limit": 7} | ({"cursor": cursor} if cursor else {}),
        )
        seen += [a["id"] for a in page["items"]]
        if not (cursor := page["next"]):
            break
    assert seen == posted[::-1]


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "status"),
    [
        ("POST", "/api/contexts/{hash}/activities", {"content": ""}, {}, 400),
        ("POST", "/api/contexts/{hash}/activities", {"content": "x" * 10_001}, {}, 400),
        ("POST", "/api/contexts/{hash}/activities", {"text": "MAX's field"}, {}, 400),
        ("GET", "/api/contexts/{hash}/activities", None, {"cursor": "not-a-cursor!"}, 400),
        ("GET", "/api/contexts/{hash}/activities", None, {"limit": "0"}, 400),
        ("GET", "/api/contexts/{hash}/activities", None, {"limit": "1000"}, 400),
        ("POST", f"/api/contexts/{'0' * 40}/activities", {"content": "x"}, {}, 404),
        ("GET", "/api/activities/00000000000000000000000000", None, {}, 404),
        ("POST", "/api/people/{other}/activities", {"content": "as someone else"}, {}, 403),
        ("GET", "/api/people/{other}/timeline", None, {}, 403),
    ],
)
async def test_bad_requests_are_refused(
    hub: RunningHub, method: str, path: str, body, params: dict, status: int
) -> None:
    run = tag()
    me = Api(hub, f"me{run}")
    hash = await community(hub, "open", me.user)
    url = path.format(hash=hash, other=f"other{run}")
    await me.refused(method, url, status, **({"json": body} if body is not None else {}), params=params)


async def test_filters_keep_what_matches_and_a_rare_match_is_reached_page_by_page(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    hash = await community(hub, "open", owner.user, ana)
    path = f"/api/contexts/{hash}/activities"
    rare = await ana.call("POST", path, {"content": "the #Rare one about quarks"}, status=201)
    for n in range(45):
        await owner.call("POST", path, {"content": f"plain {n}"}, status=201)

    async def ids(**params: object) -> list[str]:
        return [a["id"] for a in (await owner.call("GET", path, params=params))["items"]]

    assert await ids(actor=ana.user) == [rare["id"]]
    assert await ids(keyword="QUARKS") == [rare["id"]]
    assert await ids(until=rare["published"]) == []
    assert len(await ids(since=rare["published"], limit=100)) == 46
    found, cursor, calls = [], None, 0
    while True:  # one call scans a bounded number of store pages: the rest on the next ones
        page = await owner.call(
            "GET", path, params={"hashtag": "#rare", "limit": 1} | ({"cursor": cursor} if cursor else {})
        )
        found += [a["id"] for a in page["items"]]
        calls += 1
        if not (cursor := page["next"]):
            break
    assert found == [rare["id"]] and calls >= 2


async def test_sorting_by_latest_comment_pages_without_gap_or_repeat(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    hash = await community(hub, "open", owner.user, ana)
    path = f"/api/contexts/{hash}/activities"
    posted = [(await owner.call("POST", path, {"content": f"n{n}"}, status=201))["id"] for n in range(12)]
    for activity_id in (posted[2], posted[7]):
        await ana.call("POST", f"/api/activities/{activity_id}/comments", {"content": "up"}, status=201)
    seen, cursor = [], None
    while True:
        params = {"sort": "comments", "limit": 5} | ({"cursor": cursor} if cursor else {})
        page = await ana.call("GET", path, params=params)
        seen += [a["id"] for a in page["items"]]
        if not (cursor := page["next"]):
            break
    rest = [i for i in posted if i not in (posted[2], posted[7])]
    assert seen == [posted[7], posted[2], *rest[::-1]]
    first = (await ana.call("GET", path, params={"sort": "comments", "limit": 1}))["items"][0]
    assert first["lastComment"] >= first["published"]
    for timeline in (f"/api/people/{ana.user}/timeline", f"/api/people/{owner.user}/activities"):
        assert (await ana.call("GET", timeline, params={"sort": "comments", "limit": 1}))["items"][0][
            "id"
        ] == (posted[7])


async def test_a_timeline_filtered_by_context_tags(hub: RunningHub) -> None:
    run = tag()
    owner, ana = Api(hub, f"owner{run}"), Api(hub, f"ana{run}")
    physics, chemistry = [await community(hub, "open", owner.user, ana) for _ in range(2)]
    await owner.call("PUT", f"/api/contexts/{physics}", {"tags": ["science", "physics"]})
    await owner.call("PUT", f"/api/contexts/{chemistry}", {"tags": ["science"]})
    in_physics = await owner.call("POST", f"/api/contexts/{physics}/activities", {"content": "p"}, status=201)
    in_chemistry = await owner.call(
        "POST", f"/api/contexts/{chemistry}/activities", {"content": "c"}, status=201
    )
    await ana.call("POST", f"/api/people/{ana.user}/activities", {"content": "own"}, status=201)
    timeline = f"/api/people/{ana.user}/timeline"

    async def ids(**params: object) -> list[str]:
        return [a["id"] for a in (await ana.call("GET", timeline, params=params))["items"]]

    assert await ids(tags="physics") == [in_physics["id"]]
    assert await ids(tags="science") == [in_chemistry["id"], in_physics["id"]]
    assert await ids(tags="science,physics") == [in_physics["id"]]
    assert await ids(tags="biology") == []
    await ana.refused("GET", timeline, 400, params={"tags": "x" * 200})
    await Api(hub, f"mallory{run}").refused("GET", timeline, 403, params={"tags": "science"})


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "likes"},
        {"sort": "comments", "cursor": "00000000000000000000000000"},
        {"hashtag": "x" * 65},
        {"keyword": ""},
        {"actor": "amq.gen"},
        {"since": "yesterday"},
        {"until": "nan"},
        {"since": "-1"},
    ],
)
async def test_bad_filters_are_refused(hub: RunningHub, params: dict) -> None:
    me = Api(hub, f"me{tag()}")
    hash = await community(hub, "open", me.user)
    await me.refused("GET", f"/api/contexts/{hash}/activities", 400, params=params)


async def test_favorites_need_the_read_and_are_listed_to_their_user_only(hub: RunningHub) -> None:
    run = tag()
    owner, ana, mallory = Api(hub, f"owner{run}"), Api(hub, f"ana{run}"), Api(hub, f"mallory{run}")
    closed = await community(hub, "closed", owner.user, ana)
    post = await owner.call("POST", f"/api/contexts/{closed}/activities", {"content": "keep me"}, status=201)
    path = f"/api/activities/{post['id']}/favorites"
    assert (await ana.call("POST", path, status=201))["favoritesCount"] == 1
    await ana.call("POST", path, status=200)
    await mallory.refused("POST", path, 404)  # not readable: MAX let anyone favorite anything
    assert [a["id"] for a in (await ana.call("GET", f"/api/people/{ana.user}/favorites"))["items"]] == [
        post["id"]
    ]
    await mallory.refused("GET", f"/api/people/{ana.user}/favorites", 403)
    await owner.call("DELETE", f"/api/contexts/{closed}/permissions/{ana.user}/read", status=201)
    assert (await ana.call("GET", f"/api/people/{ana.user}/favorites"))["items"] == []  # no longer readable
    await owner.call("POST", f"/api/contexts/{closed}/permissions/{ana.user}/defaults")
    await ana.call("DELETE", path, status=204)
    await ana.refused("DELETE", path, 404)


async def test_pinning_takes_the_owner_or_the_flag_permission(hub: RunningHub) -> None:
    run = tag()
    owner, ana, bo, mallory = (Api(hub, f"{name}{run}") for name in ("owner", "ana", "bo", "mallory"))
    hash = await community(hub, "open", owner.user, ana, bo)
    post = await ana.call("POST", f"/api/contexts/{hash}/activities", {"content": "pin me"}, status=201)
    path = f"/api/activities/{post['id']}/flag"
    await ana.refused("POST", path, 403)  # flag is restricted in the open preset
    await owner.call("PUT", f"/api/contexts/{hash}/permissions/{ana.user}/flag", status=201)
    assert (await ana.call("POST", path, status=201))["flagged"] is True
    await ana.call("POST", path, status=200)
    assert [a["id"] for a in (await bo.call("GET", f"/api/contexts/{hash}/flagged"))["items"]] == [post["id"]]
    await mallory.refused("POST", path, 404)  # not even readable to her
    await bo.refused("DELETE", path, 403)
    await owner.call("DELETE", path, status=204)
    await owner.refused("DELETE", path, 404)
    own = await ana.call("POST", f"/api/people/{ana.user}/activities", {"content": "mine"}, status=201)
    await ana.refused("POST", f"/api/activities/{own['id']}/flag", 400)  # not in a context


def picture(width: int, height: int, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, kind)
    return out.getvalue()


async def test_images_and_files_are_posted_as_forms_with_thumbnails(hub: RunningHub) -> None:
    run = tag()
    owner, ana, mallory = Api(hub, f"owner{run}"), Api(hub, f"ana{run}"), Api(hub, f"mallory{run}")
    hash = await community(hub, "closed", owner.user, ana)
    path = f"/api/contexts/{hash}/activities"
    posted = await owner.call(
        "POST",
        path,
        files={"file": ("sunset.jpg", picture(1200, 600, "JPEG"))},
        data={"content": "Look"},
        status=201,
    )
    image = posted["object"]
    assert (image["objectType"], image["content"], image["contentType"]) == ("image", "Look", "image/jpeg")
    assert (image["width"], image["height"], image["filename"]) == (1200, 600, "sunset.jpg")
    full = await ana.http.get(image["fullURL"])
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert full.content == picture(1200, 600, "JPEG")
    thumb = await ana.http.get(image["thumbURL"])
    assert thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size == (400, 200)
    await mallory.refused("GET", image["thumbURL"], 404)  # not a reader of the closed context

    script = b"<html><script>alert(document.cookie)</script></html>"
    mine = await ana.call(
        "POST",
        f"/api/people/{ana.user}/activities",
        files={"file": ("../../x.html", script, "text/html")},
        status=201,
    )
    assert mine["object"]["objectType"] == "file" and mine["object"]["filename"] == "x.html"
    download = await mallory.http.get(mine["object"]["fullURL"])  # own timeline: anyone signed in
    assert download.content == script and download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    await ana.refused("GET", f"/api/activities/{mine['id']}/image", 404)  # a file has no picture
    await ana.call("DELETE", f"/api/activities/{mine['id']}", status=204)
    await ana.refused("GET", mine["object"]["fullURL"], 404)
    assert list(Path(hub.node.settings.media_dir).glob(f"activities/{mine['id']}*")) == []


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ({"file": ("empty.txt", b"")}, 400),
        ({"other": ("x.png", b"x")}, 400),
        ({"file": ("huge.png", b"x" * (10 * 1024 * 1024 + 1))}, 413),
        ({"file": ("bomb.png", None)}, 413),
        ({"file": ("broken.png", None)}, 400),
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(hub: RunningHub, files: dict, status: int) -> None:
    me = Api(hub, f"me{tag()}")
    hash = await community(hub, "open", me.user)
    name = next(iter(files.values()))[0]
    if name == "bomb.png":  # a few KB that claim 100 million pixels
        files = {"file": (name, picture(10_000, 10_000))}
    if name == "broken.png":  # a PNG header, then nothing
        files = {"file": (name, picture(50, 50)[:60])}
    before = sorted(Path(hub.node.settings.media_dir).rglob("*"))
    await me.refused("POST", f"/api/contexts/{hash}/activities", status, files=files)
    assert sorted(Path(hub.node.settings.media_dir).rglob("*")) == before
    assert (await me.call("GET", f"/api/contexts/{hash}/activities"))["items"] == []
