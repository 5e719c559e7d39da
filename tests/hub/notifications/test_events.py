"""The hub's own events feed the feed, on both backends, and each new notification reaches the
user's open devices live with the unseen count."""

import asyncio
import uuid

from backends import SECRET
from hub_server import RunningHub, WsClient, hub_fixture
from hutch.clients.python import HutchClient
from hutch.hub.auth import mint_token
from hutch.rules import Form, decode
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:6]


async def feed(api: Api) -> list[dict]:
    return await api.call("GET", "/api/notifications", headers={"Range": "id; max=100"})


async def categories(api: Api) -> list[str]:
    return [n["category"] for n in await feed(api)]


async def community(hub: RunningHub, *members: str) -> str:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    body = {"url": f"https://school.example/{tag()}", "preset": "open"}
    hash = (await admin.call("POST", "/api/contexts", body, status=201))["hash"]
    for member in members:
        await admin.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": member}, status=201)
    return hash


async def test_being_added_to_a_conversation_and_mentioned_in_it(hub: RunningHub) -> None:
    run = tag()
    ana, bo, cy, dan = (Api(hub, f"{name}{run}") for name in ("ana", "bo", "cy", "dan"))
    cid = (await ana.call("POST", "/api/conversations", {"participants": [bo.user, cy.user]}, status=201))[
        "id"
    ]
    assert await categories(bo) == ["conversation-added"] and await categories(ana) == []
    [added] = await feed(cy)
    assert added["properties"] == {"target": cid, "by": ana.user} and ana.user in added["message"]
    async with HutchClient(hub.ws_url, ana.user, mint_token(ana.user, SECRET)) as client:
        await client.say(cid, f"lunch @{bo.user}? and @{dan.user} who is not here, @{ana.user} myself")
    for _ in range(200):  # the worker stores the message, then tells who is mentioned
        if (await categories(bo))[0] == "mention":
            break
        await asyncio.sleep(0.02)
    mention = (await feed(bo))[0]
    assert mention["properties"]["target"] == cid and mention["properties"]["by"] == ana.user
    assert await categories(dan) == [] and await categories(ana) == []  # not a member; the sender


async def test_likes_and_comments_on_ones_post_roll_up_and_mentions_need_the_read(hub: RunningHub) -> None:
    run = tag()
    ana = Api(hub, f"ana{run}")
    fans = [Api(hub, f"fan{n}{run}") for n in range(30)]
    hash = await community(hub, ana.user, *(fan.user for fan in fans))
    post = await ana.call("POST", f"/api/contexts/{hash}/activities", {"content": "my trip"}, status=201)
    for fan in fans:
        await fan.call("POST", f"/api/activities/{post['id']}/likes", status=201)
    for fan in fans[:3]:
        await fan.call("POST", f"/api/activities/{post['id']}/comments", {"content": "nice"}, status=201)
    await ana.call("POST", f"/api/activities/{post['id']}/likes", status=201)  # one's own: no notification
    assert await ana.call("GET", "/api/notifications/unseen") == {"unseen": 33}
    comments, likes = await feed(ana)
    assert comments["category"] == "comment" and len(comments["notifications"]) == 2
    assert likes["category"] == "like" and len(likes["notifications"]) == 29
    assert {likes["properties"]["by"], *(n["properties"]["by"] for n in likes["notifications"])} == {
        f.user for f in fans
    }
    outsider = Api(hub, f"out{run}")
    await fans[0].call(
        "POST",
        f"/api/contexts/{hash}/activities",
        {"content": f"@{ana.user} and @{outsider.user} look"},
        status=201,
    )
    assert (await feed(ana))[0]["category"] == "mention"
    assert await categories(outsider) == []  # an open context's posts are for subscribers: not readable


async def test_a_new_notification_reaches_the_open_stream_with_the_unseen_count(hub: RunningHub) -> None:
    run = tag()
    ana, bo = Api(hub, f"ana{run}"), Api(hub, f"bo{run}")
    stream = await WsClient.open(hub, ana.user, headers={"passcode": mint_token(ana.user, SECRET)})
    await stream.subscribe(f"/exchange/{ana.user}.subscribe", "mine")
    hash = await community(hub, ana.user, bo.user)
    post = await ana.call("POST", f"/api/contexts/{hash}/activities", {"content": "hello"}, status=201)
    await bo.call("POST", f"/api/activities/{post['id']}/likes", status=201)
    shown = decode((await stream.recv()).body, Form.PACKED_JSON, "max@1")
    assert (shown["object"], shown["data"]["category"], shown["data"]["unseenCount"]) == (
        "notification",
        "like",
        1,
    )
    assert shown["user"]["username"] == bo.user and shown["destination"] == ana.user
    await stream.close()
