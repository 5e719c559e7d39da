"""Posts and comments reach a context's subscribers live, by its notifications setting, through
the node's fan-out; joining and leaving take effect at once, on this node and on others."""

import uuid

from backends import SECRET, hub_settings
from hub_server import RunningHub, WsClient, hub_fixture, running_hub
from hutch.rules import Form, decode
from security.helpers import Api

hub = hub_fixture(jwt_secret=SECRET)


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def context(hub: RunningHub, notifications: str, *members: str) -> tuple[Api, str]:
    admin = Api(hub, f"admin{tag()}", roles=["admin"])
    body = {"url": f"https://school.example/{tag()}", "preset": "open", "notifications": notifications}
    hash = (await admin.call("POST", "/api/contexts", body, status=201))["hash"]
    for member in members:
        await admin.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": member}, status=201)
    return admin, hash


async def stream(hub: RunningHub, user: str) -> WsClient:
    client = await WsClient.open(hub, user)
    await client.subscribe(f"/exchange/{user}.subscribe", "stream")
    return client


async def next_envelope(client: WsClient, timeout: float = 5.0) -> dict:
    frame = await client.recv(timeout)
    return decode(frame.body, Form.PACKED_JSON, "max@1")


async def nothing_arrives(client: WsClient, wait: float = 0.5) -> bool:
    try:
        frame = await client.recv(wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {frame}")


async def test_posts_and_comments_arrive_by_the_notifications_setting(hub: RunningHub) -> None:
    run = tag()
    ana, bo = f"ana{run}", f"bo{run}"
    _, comments = await context(hub, "comments", ana, bo)
    _, posts = await context(hub, "posts", ana, bo)
    _, quiet = await context(hub, "none", ana, bo)
    bos = await stream(hub, bo)
    writer = Api(hub, ana)
    post = await writer.call("POST", f"/api/contexts/{comments}/activities", {"content": "live"}, status=201)
    shown = await next_envelope(bos)
    assert (shown["object"], shown["data"]["id"], shown["user"]["username"]) == ("activity", post["id"], ana)
    await writer.call(
        "POST", f"/api/activities/{post['id']}/comments", {"content": "and a comment"}, status=201
    )
    assert (await next_envelope(bos))["object"] == "comment"
    other = await writer.call(
        "POST", f"/api/contexts/{posts}/activities", {"content": "posts only"}, status=201
    )
    assert (await next_envelope(bos))["data"]["id"] == other["id"]
    await writer.call("POST", f"/api/activities/{other['id']}/comments", {"content": "not live"}, status=201)
    await writer.call("POST", f"/api/contexts/{quiet}/activities", {"content": "not live either"}, status=201)
    assert await nothing_arrives(bos)
    await bos.close()


async def test_joining_and_leaving_take_effect_on_an_open_stream(hub: RunningHub) -> None:
    run = tag()
    ana, cy = f"ana{run}", f"cy{run}"
    admin, hash = await context(hub, "posts", ana)
    cys = await stream(hub, cy)  # online before joining
    await Api(hub, cy).call("POST", f"/api/contexts/{hash}/subscriptions", {"username": cy}, status=201)
    writer = Api(hub, ana)
    await writer.call("POST", f"/api/contexts/{hash}/activities", {"content": "welcome"}, status=201)
    assert (await next_envelope(cys))["data"]["object"]["content"] == "welcome"
    await admin.call("DELETE", f"/api/contexts/{hash}/subscriptions/{cy}", status=204)
    await writer.call("POST", f"/api/contexts/{hash}/activities", {"content": "gone"}, status=201)
    assert await nothing_arrives(cys)
    await cys.close()


async def test_a_post_on_one_node_reaches_a_subscriber_on_another() -> None:
    settings = hub_settings("amqp") | {"jwt_secret": SECRET}
    with running_hub(**settings) as one, running_hub(**settings | {"worker": False}) as two:
        run = tag()
        ana, bo = f"ana{run}", f"bo{run}"
        _, hash = await context(one, "posts", ana)
        bos = await stream(two, bo)
        await Api(two, bo).call("POST", f"/api/contexts/{hash}/subscriptions", {"username": bo}, status=201)
        post = await Api(one, ana).call(
            "POST", f"/api/contexts/{hash}/activities", {"content": "far"}, status=201
        )
        assert (await next_envelope(bos))["data"]["id"] == post["id"]
        await bos.close()


async def test_realtime_is_the_subscribers_choice_and_a_vetoed_read_ends_it(hub: RunningHub) -> None:
    run = tag()
    ana, bo, mallory = f"ana{run}", f"bo{run}", f"mallory{run}"
    admin, hash = await context(hub, "posts", ana, bo)
    bos, writer, mine = await stream(hub, bo), Api(hub, ana), f"/api/contexts/{hash}/subscriptions/{bo}"
    chosen = await Api(hub, bo).call("PUT", mine, {"realtime": False})
    assert (chosen["realtime"], chosen["push"]) == (False, True)
    await writer.call("POST", f"/api/contexts/{hash}/activities", {"content": "quiet"}, status=201)
    assert await nothing_arrives(bos)
    await Api(hub, bo).call("PUT", mine, {"realtime": True})
    await writer.call("POST", f"/api/contexts/{hash}/activities", {"content": "loud"}, status=201)
    assert (await next_envelope(bos))["data"]["object"]["content"] == "loud"
    await admin.call("DELETE", f"/api/contexts/{hash}/permissions/{bo}/read", status=201)
    await writer.call("POST", f"/api/contexts/{hash}/activities", {"content": "not for bo"}, status=201)
    assert await nothing_arrives(bos)
    await bos.close()
    await Api(hub, mallory).refused("PUT", mine, 403, json={"realtime": False})  # not theirs to choose
    await Api(hub, mallory).refused(
        "PUT", f"/api/contexts/{hash}/subscriptions/{mallory}", 404, json={"push": True}
    )
    for bad in ({}, {"realtime": "no"}, {"email": True}, [True]):
        await Api(hub, bo).refused("PUT", mine, 400, json=bad)
    assert (await admin.call("PUT", mine, {"push": False}))["push"] is False  # an admin may
