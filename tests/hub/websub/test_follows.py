"""A context follows external feeds: through their WebSub hub (here hutch's own, for a feed on a
loopback publisher), and by polling with conditional GETs when they name none."""

import asyncio
import uuid

import httpx
import pytest
from backends import SECRET, eventually
from hub_server import RunningHub, free_port, hub_fixture
from security.helpers import Api
from websub_peers import Peers

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


def atom(*entries: str) -> bytes:
    items = "".join(
        f"<entry><id>urn:e:{e}</id><title>{e}</title><link href='https://news.example/{e}'/>"
        f"<summary>about {e}</summary><updated>2026-12-01T00:00:00Z</updated></entry>"
        for e in entries
    )
    return f"<feed xmlns='http://www.w3.org/2005/Atom'><title>News</title>{items}</feed>".encode()


@pytest.fixture
async def peers():
    async with Peers(free_port()).running() as running:
        yield running


async def context(hub: RunningHub, owner: Api) -> str:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    body = {"url": f"https://town.example/{tag()}", "preset": "open", "owner": owner.user}
    return (await admin.call("POST", "/api/contexts", body, status=201))["hash"]


async def posts(api: Api, hash: str) -> list[str]:
    page = await api.call("GET", f"/api/contexts/{hash}/activities", params={"limit": 50})
    return [a["object"]["content"] for a in page["items"]]


async def test_a_feed_with_a_hub_is_followed_through_it_and_each_entry_posted_once(
    hub: RunningHub, peers: Peers
) -> None:
    owner = Api(hub, f"owner{tag()}")
    hash = await context(hub, owner)
    topic = f"{peers.base}/topic"
    peers.topic_body, peers.topic_links = atom("one"), f'<{hub.url}/websub>; rel="hub", <{topic}>; rel="self"'
    follow = await owner.call("POST", f"/api/contexts/{hash}/follows", {"url": topic}, status=201)
    assert follow["hub"] == f"{hub.url}/websub"
    await eventually(
        lambda: (
            hub.call(hub.node.websub.store.get(topic, f"{hub.url}/websub/callback/{follow['id']}"))
            is not None
        )
    )
    peers.topic_body = atom("two", "one")
    async with httpx.AsyncClient() as http:
        await http.post(f"{hub.url}/websub", data={"hub.mode": "publish", "hub.url": topic})
    for _ in range(200):
        if len(await posts(owner, hash)) == 2:
            break
        await asyncio.sleep(0.05)
    shown = await posts(owner, hash)
    assert len(shown) == 2 and "two" in shown[0] and "one" in shown[1]  # "one" once
    first = (await owner.call("GET", f"/api/contexts/{hash}/activities"))["items"][0]
    assert first["generator"] == {"objectType": "feed", "url": topic}
    async with httpx.AsyncClient() as http:  # a forged delivery: ignored
        forged = await http.post(
            f"{hub.url}/websub/callback/{follow['id']}",
            content=atom("three"),
            headers={"X-Hub-Signature": "sha256=00"},
        )
    assert forged.status_code == 204 and len(await posts(owner, hash)) == 2


async def test_a_feed_without_a_hub_is_polled_conditionally(hub: RunningHub, peers: Peers) -> None:
    owner, mallory = Api(hub, f"owner{tag()}"), Api(hub, f"mallory{tag()}")
    hash = await context(hub, owner)
    peers.topic_body = atom("a")
    await mallory.refused("POST", f"/api/contexts/{hash}/follows", 403, json={"url": f"{peers.base}/topic"})
    follow = await owner.call(
        "POST", f"/api/contexts/{hash}/follows", {"url": f"{peers.base}/topic"}, status=201
    )
    assert follow["hub"] is None and len(await posts(owner, hash)) == 1
    fetches = peers.topic_fetches
    await asyncio.to_thread(hub.call, hub.node.follower.poll())  # unchanged: 304, nothing posted
    assert peers.topic_fetches == fetches + 1 and len(await posts(owner, hash)) == 1
    peers.topic_body, peers.topic_etag = atom("b", "a"), "v2"
    await asyncio.to_thread(hub.call, hub.node.follower.poll())
    assert len(await posts(owner, hash)) == 2
    assert [f["url"] for f in await owner.call("GET", f"/api/contexts/{hash}/follows")] == [
        f"{peers.base}/topic"
    ]
    await owner.call("DELETE", f"/api/contexts/{hash}/follows/{follow['id']}", status=204)
    await owner.refused(
        "POST", f"/api/contexts/{hash}/follows", 400, json={"url": f"{peers.base}/cb/missing"}
    )
    await owner.refused("POST", f"/api/contexts/{hash}/follows", 400, json={"url": "javascript:alert(1)"})
