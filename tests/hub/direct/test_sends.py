"""Admin sends, end to end on both backends: live to online devices, kept in feeds, and to the
channels each offline recipient chose (Web Push, e-mail, SMS), muted or held by quiet hours."""

import asyncio
import datetime as dt
import json
import time
from typing import Any

import pytest
from backends import AMQP_URL, SECRET, eventually
from hub_server import RunningHub, WsClient
from hutch.hub.auth import mint_token
from hutch.hub.direct.service import PUSH
from hutch.protocol import Frame, names
from hutch.rules import Form, decode
from push_services import PushServices, WebPushReceiver
from security.helpers import Api, fresh, refused, signed_in


def web_push_device(browser: WebPushReceiver, push: PushServices) -> dict[str, Any]:
    return {"platform": "webpush", "subscription": browser.subscription(push.base_url)}


def unpacked(frame: Frame) -> dict[str, Any]:
    return decode(frame.body, Form.PACKED_JSON, "max@1")


async def next_direct(client: WsClient, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        message = unpacked(await client.recv(timeout))
        if message.get("object") == "direct":
            return message


async def known(hub: RunningHub, *users: str) -> None:
    """Each has connected once (a broadcast reaches those the hub knows)."""
    for user in users:
        client = await signed_in(hub, user, stream="auto")
        await client.close()


async def test_an_urgent_multicast_reaches_each_user_where_they_are(
    hub: RunningHub, push: PushServices
) -> None:
    ana, bob, cy, boss = fresh("ana", "bob", "cy", "boss")
    browser = push.new_receiver()
    await Api(hub, bob).call("POST", "/api/devices", web_push_device(browser, push), status=201)
    await Api(hub, cy).call("PUT", f"/api/people/{cy}/preferences", {"email": f"{cy}@mail.example"})
    anas = await signed_in(hub, ana, stream="auto")
    sent = await Api(hub, boss, roles=["admin"]).call(
        "POST",
        "/api/multicast",
        {"users": [ana, bob, cy], "text": "fire drill at 3", "urgency": 4},
        status=202,
    )
    assert sent["kind"] == "send" and sent["deliverAt"]

    live = await next_direct(anas)
    assert (
        live["data"]["text"] == "fire drill at 3"
        and live["urgency"] == 4
        and live["user"]["username"] == boss
    )
    assert live["uuid"] == sent["id"]
    await eventually(lambda: len(push.received) >= 2, timeout=10)
    [web] = push.of("webpush")
    assert (
        web.key == browser.id
        and web.payload["body"] == "fire drill at 3"
        and web.headers["urgency"] == "high"
    )
    [mail] = push.of("email")
    assert mail.key == f"{cy}@mail.example" and mail.headers["x-priority"] == "1"
    assert "fire drill at 3" in mail.headers["subject"] and mail.payload["body"].strip() == "fire drill at 3"
    await asyncio.sleep(0.3)
    assert len(push.received) == 2  # ana is online: no push, no mail for her
    for user in (ana, bob, cy):  # each keeps it in the feed
        [kept] = await Api(hub, user).call("GET", "/api/notifications")
        assert kept["message"] == "fire drill at 3" and kept["properties"]["urgency"] == "4"
    await anas.close()


async def test_a_send_of_normal_urgency_mails_no_one_unless_they_chose_it(
    hub: RunningHub, push: PushServices
) -> None:
    cy, dee, boss = fresh("cy", "dee", "boss")
    await Api(hub, cy).call("PUT", f"/api/people/{cy}/preferences", {"email": f"{cy}@mail.example"})
    await Api(hub, dee).call(
        "PUT", f"/api/people/{dee}/preferences", {"phone": "+14155550123", "channels": {"sms": [2, 3, 4]}}
    )
    admin = Api(hub, boss, roles=["admin"])
    await admin.call("POST", "/api/multicast", {"users": [cy, dee], "text": "lunch is served"}, status=202)
    await eventually(lambda: len(push.of("sms")) == 1, timeout=10)
    [sms] = push.of("sms")
    assert sms.key == "+14155550123" and sms.payload["Body"] == f"{boss}: lunch is served"
    await asyncio.sleep(0.3)
    assert push.of("email") == []


async def test_dead_addresses_are_forgotten(hub: RunningHub, push: PushServices) -> None:
    cy, boss = fresh("cy", "boss")
    push.dead_mailboxes.add(f"{cy}@mail.example")
    push.dead_numbers.add("+14155550199")
    await Api(hub, cy).call(
        "PUT", f"/api/people/{cy}/preferences", {"email": f"{cy}@mail.example", "phone": "+14155550199"}
    )
    await Api(hub, boss, roles=["admin"]).call(
        "POST", "/api/send", {"user": cy, "text": "x", "urgency": 4}, status=202
    )

    async def forgotten() -> bool:
        found = await Api(hub, cy).call("GET", f"/api/people/{cy}/preferences")
        return found["email"] is None and found["phone"] is None

    for _ in range(100):
        if await forgotten():
            break
        await asyncio.sleep(0.05)
    assert await forgotten()
    assert hub.node.push_bridge is not None and hub.node.push_bridge.counts["dead-token"] >= 2


async def test_a_broadcast_is_one_broker_message_for_every_online_device(
    hub: RunningHub, push: PushServices
) -> None:
    ana, bob, cy, boss = fresh("ana", "bob", "cy", "boss")
    browser = push.new_receiver()
    await known(hub, cy)
    await Api(hub, cy).call("POST", "/api/devices", web_push_device(browser, push), status=201)
    anas, bobs, bobs_phone = (
        await signed_in(hub, ana, stream="auto"),
        await signed_in(hub, bob, stream="auto"),
        await signed_in(hub, bob, stream="auto"),
    )
    published: list[tuple[str, str]] = []
    publish = hub.node.broker.publish

    async def counted(exchange: str, key: str, message: Any, *args: Any, **kwargs: Any) -> Any:
        published.append((exchange, key))
        return await publish(exchange, key, message, *args, **kwargs)

    hub.node.broker.publish = counted  # type: ignore[method-assign]
    try:
        sent = await Api(hub, boss, roles=["admin"]).call(
            "POST", "/api/broadcast", {"text": "we are live"}, status=202
        )
        for device in (anas, bobs, bobs_phone):
            assert (await next_direct(device))["data"]["text"] == "we are live"
        await eventually(lambda: len(push.of("webpush")) == 1, timeout=10)
    finally:
        hub.node.broker.publish = publish  # type: ignore[method-assign]
    direct = [key for exchange, key in published if exchange == names.DIRECT]
    assert direct == [names.EVERYONE_KEY, names.OFFLINE_KEY]  # whatever the number of users
    [kept] = await Api(hub, cy).call("GET", "/api/notifications")  # cy was offline: it is in the feed
    assert kept["message"] == "we are live" and kept["properties"]["send"] == sent["id"]
    for device in (anas, bobs, bobs_phone):
        await device.close()


async def test_a_muted_conversation_pushes_nothing(hub: RunningHub, push: PushServices) -> None:
    ana, bob = fresh("ana", "bob")
    await Api(hub, bob).call(
        "POST", "/api/devices", {"platform": "android", "token": f"fcm-{bob}"}, status=201
    )
    anas = Api(hub, ana)
    muted = (
        await anas.call("POST", "/api/conversations", {"participants": [bob], "displayName": "a"}, status=201)
    )["id"]
    other = (
        await anas.call(
            "POST", "/api/conversations", {"participants": [bob, ana + "x"], "displayName": "b"}, status=201
        )
    )["id"]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    await Api(hub, bob).call(
        "PUT", f"/api/people/{bob}/preferences", {"mutes": {f"conversation/{muted}": until}}
    )
    await anas.call("POST", f"/api/conversations/{muted}/messages", {"text": "psst"}, status=201)
    await anas.call("POST", f"/api/conversations/{other}/messages", {"text": "hello"}, status=201)

    def chat() -> list[str]:  # (being added to each conversation is pushed too)
        bodies = [r.payload["message"]["notification"]["body"] for r in push.of("fcm")]
        return [body for body in bodies if body in ("psst", "hello")]

    await eventually(lambda: len(chat()) >= 1, timeout=10)
    await asyncio.sleep(0.5)
    assert chat() == ["hello"]


async def test_quiet_hours_hold_a_low_urgency_push_until_morning(hub: RunningHub, push: PushServices) -> None:
    bob, boss = fresh("bob", "boss")
    browser = push.new_receiver()
    await Api(hub, bob).call("POST", "/api/devices", web_push_device(browser, push), status=201)
    now = dt.datetime.now(dt.UTC)
    night = {
        "from": (now - dt.timedelta(hours=1)).strftime("%H:%M"),
        "to": (now + dt.timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "UTC",
    }
    await Api(hub, bob).call("PUT", f"/api/people/{bob}/preferences", {"quiet": night})
    admin = Api(hub, boss, roles=["admin"])
    await admin.call("POST", "/api/send", {"user": bob, "text": "weekly digest", "urgency": 2}, status=202)
    await admin.call(
        "POST", "/api/send", {"user": bob, "text": "the server is down", "urgency": 4}, status=202
    )
    await eventually(lambda: len(push.of("webpush")) == 1, timeout=10)
    await asyncio.sleep(0.5)
    assert [r.payload["body"] for r in push.of("webpush")] == ["the server is down"]  # urgent: at once

    store = hub.node.stores.direct

    def held() -> list[Any]:  # the store is the hub's: asked on its loop
        jobs = hub.call(store.of_author(""))
        return [job for job in jobs if job.kind == PUSH and job.payload["job"]["device"]["user"] == bob]

    [waiting] = held()
    morning = now.replace(second=0, microsecond=0) + dt.timedelta(hours=1)
    assert waiting.due == morning.timestamp()
    waiting.due = time.time()  # the morning comes: the scheduler sends it
    hub.call(store.schedule(waiting))
    await eventually(lambda: len(push.of("webpush")) == 2, timeout=10)
    assert push.of("webpush")[1].payload["body"] == "weekly digest"
    assert push.of("webpush")[1].headers["urgency"] == "low"
    await eventually(lambda: held() == [])


async def test_admins_send_over_stomp_others_are_refused(hub: RunningHub, push: PushServices) -> None:
    ana, boss, eve = fresh("ana", "boss", "eve")
    anas = await signed_in(hub, ana, stream="auto")
    admin = await WsClient.open(hub, login=None)
    token = mint_token(boss, SECRET, roles=["admin"])
    await admin.send("CONNECT", {"accept-version": "1.2", "login": boss, "passcode": token})
    assert (await admin.recv()).command == "CONNECTED"
    body = json.dumps({"user": ana, "text": "over stomp", "urgency": 3}).encode()
    await admin.send("SEND", {"destination": f"/exchange/{names.SENDS}/send", "receipt": "r1"}, body)
    assert (await admin.recv()).headers["receipt-id"] == "r1"
    assert (await next_direct(anas))["data"]["text"] == "over stomp"

    for destination, payload, says in [
        (f"/exchange/{names.SENDS}/send", b'{"user": "x", "text": 1}', "'text'"),
        (f"/exchange/{names.SENDS}/send", b"not json", "JSON object"),
        (f"/exchange/{names.SENDS}/everyone", body, "send, multicast or broadcast"),
    ]:
        error = await refused(admin, "SEND", {"destination": destination}, payload)
        assert says in error.headers["message"] + error.body.decode()
        admin = await WsClient.open(hub, login=None)
        await admin.send("CONNECT", {"accept-version": "1.2", "login": boss, "passcode": token})
        assert (await admin.recv()).command == "CONNECTED"
    eves = await signed_in(hub, eve, stream="auto")
    error = await refused(
        eves, "SEND", {"destination": f"/exchange/{names.SENDS}/broadcast"}, b'{"text": "free money"}'
    )
    assert "only admins" in error.body.decode()
    await anas.close()
    await admin.close()


async def test_a_bot_with_the_role_sends_over_amqp(hub: RunningHub, push: PushServices) -> None:
    if hub.node.broker_kind != "amqp":
        pytest.skip("bots speak AMQP to RabbitMQ")
    import aio_pika

    ana = fresh("ana")[0]
    anas = await signed_in(hub, ana, stream="auto")
    hub.node.send_requests.senders = frozenset({"guest"})
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        replies = await channel.declare_queue(exclusive=True)
        exchange = await channel.get_exchange(names.SENDS)

        async def request(body: dict[str, Any], **properties: Any) -> dict[str, Any]:
            message = aio_pika.Message(json.dumps(body).encode(), reply_to=replies.name, **properties)
            await exchange.publish(message, "send")
            reply = await replies.get(timeout=5, fail=False)
            for _ in range(100):
                if reply is not None:
                    break
                await asyncio.sleep(0.05)
                reply = await replies.get(timeout=5, fail=False)
            assert reply is not None
            await reply.ack()
            return json.loads(reply.body)

        answer = await request({"user": ana, "text": "from the bot"}, user_id="guest")
        assert answer["id"] and answer["deliverAt"]
        assert (await next_direct(anas))["data"]["text"] == "from the bot"
        # without RabbitMQ's checked user_id, a header claiming one counts for nothing
        forged = await request({"user": ana, "text": "forged"}, headers={"x-hutch-published-by": "guest"})
        assert "may not send" in forged["error"]
        hub.node.send_requests.senders = frozenset()
        assert "may not send" in (await request({"user": ana, "text": "no more"}, user_id="guest"))["error"]
    finally:
        hub.node.send_requests.senders = frozenset()
        await connection.close()
        await anas.close()


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/api/send", {"user": "amq.x", "text": "x"}, "reserved"),
        ("/api/send", {"user": "ana", "text": ""}, "'text'"),
        ("/api/send", {"user": "ana", "text": "x" * 10_001}, "'text'"),
        ("/api/send", {"user": "ana", "text": "x", "urgency": 5}, "'urgency'"),
        ("/api/send", {"user": "ana", "text": "x", "urgency": "4"}, "'urgency'"),
        ("/api/send", {"user": "ana", "text": "x", "category": ""}, "'category'"),
        ("/api/send", {"user": "ana", "text": "x", "data": []}, "'data'"),
        ("/api/send", {"user": "ana", "text": "x", "deliver_at": "tomorrow"}, "'deliver_at'"),
        ("/api/send", {"user": "ana", "text": "x", "deliver_at": "2026-12-07 08:00"}, "offset"),
        ("/api/multicast", {"users": [], "text": "x"}, "'users'"),
        ("/api/multicast", {"users": [f"u{n}" for n in range(1001)], "text": "x"}, "'users'"),
        ("/api/multicast", {"users": "ana", "text": "x"}, "'users'"),
        ("/api/broadcast", {"text": 7}, "'text'"),
    ],
)
async def test_bad_sends_are_refused_with_why(
    hub: RunningHub, path: str, body: dict[str, Any], says: str
) -> None:
    refusal = await Api(hub, fresh("boss")[0], roles=["admin"]).refused("POST", path, 400, json=body)
    assert says in refusal["error_description"]


async def test_only_admins_send_and_preferences_are_their_users_own(hub: RunningHub) -> None:
    ana, eve = fresh("ana", "eve")
    eves = Api(hub, eve)
    for path, body in [
        ("/api/send", {"user": ana, "text": "x"}),
        ("/api/multicast", {"users": [ana], "text": "x"}),
        ("/api/broadcast", {"text": "x"}),
    ]:
        assert "admins" in (await eves.refused("POST", path, 403, json=body))["error_description"]
    await eves.refused("GET", f"/api/people/{ana}/preferences", 403)
    await eves.refused("PUT", f"/api/people/{ana}/preferences", 403, json={"email": "eve@evil.example"})
    await eves.refused(
        "PUT", f"/api/people/{eve}/preferences", 400, json={"email": "eve@evil.example\r\nBcc: x@y.z"}
    )
    await eves.refused(
        "PUT", f"/api/people/{eve}/preferences", 413, content=b'{"mutes": "' + b"x" * 2_000_000 + b'"}'
    )
    assert (await Api(hub, ana).call("GET", f"/api/people/{ana}/preferences"))["email"] is None
    set_by_admin = await Api(hub, fresh("root")[0], roles=["admin"]).call(
        "PUT", f"/api/people/{ana}/preferences", {"email": f"{ana}@mail.example"}
    )
    assert set_by_admin["email"] == f"{ana}@mail.example"


async def test_a_user_who_turned_the_websocket_off_for_low_urgency_gets_it_in_the_feed_only(
    hub: RunningHub,
) -> None:
    ana, boss = fresh("ana", "boss")
    await Api(hub, ana).call("PUT", f"/api/people/{ana}/preferences", {"channels": {"websocket": [3, 4]}})
    anas = await signed_in(hub, ana, stream="auto")
    admin = Api(hub, boss, roles=["admin"])
    await admin.call("POST", "/api/send", {"user": ana, "text": "quiet news", "urgency": 1}, status=202)
    await admin.call("POST", "/api/send", {"user": ana, "text": "loud news", "urgency": 3}, status=202)
    assert (await next_direct(anas))["data"]["text"] == "loud news"
    feed = await Api(hub, ana).call("GET", "/api/notifications")
    assert sorted(item["message"] for item in feed) == ["loud news", "quiet news"]
    await anas.close()
