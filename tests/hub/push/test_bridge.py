"""The push bridge against loopback Web Push, FCM and APNs services, on both backends."""

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backends import AMQP_URL, BROKERS, REDIS_URL, SECRET, eventually, hub_settings, rabbitmq_vhost
from hub_server import RunningHub, running_hub
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from hutch.hub.broker import topology
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.base import Broker, Delivery, Message
from hutch.hub.broker.errors import BrokerUnavailable, NotFound
from hutch.hub.broker.memory import MemoryBroker
from hutch.hub.conversations.memory import MemoryConversationStore
from hutch.hub.conversations.model import Conversation
from hutch.hub.conversations.worker import STORED
from hutch.hub.presence.memory import MemoryPresence
from hutch.hub.push import Notification, PushBridge
from hutch.hub.push.devices import Device
from hutch.hub.push.memory import MemoryDevices
from hutch.protocol import names
from push_services import PushServices, purge_push_queues


def fresh(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


def api(hub: RunningHub, user: str) -> HutchAPI:
    return HutchAPI(hub.url, mint_token(user, SECRET))


def client(hub: RunningHub, user: str) -> HutchClient:
    return HutchClient(hub.ws_url, user, mint_token(user, SECRET))


async def say(hub: RunningHub, user: str, cid: str, text: str, **data: object) -> None:
    async with client(hub, user) as sender:
        await sender.say(cid, text, **data)


async def test_devices_of_offline_members_get_the_text_cut_and_urgent(
    hub: RunningHub, push: PushServices
) -> None:
    ana, bob, cy = fresh("ana"), fresh("bob"), fresh("cy")
    bobs_browser, cys_browser = push.new_receiver(), push.new_receiver()
    async with api(hub, ana) as anas, api(hub, bob) as bobs, api(hub, cy) as cys:
        cid = (await anas.create_conversation([bob, cy], "trio"))["id"]
        await bobs.register_device("webpush", subscription=bobs_browser.subscription(push.base_url))
        await bobs.register_device("android", token=f"fcm-{bob}")
        await bobs.register_device("ios", token=f"apns-{bob}")
        await cys.register_device("webpush", subscription=cys_browser.subscription(push.base_url))
        await anas.register_device("android", token=f"fcm-{ana}")
    text = "a long story " * 12
    async with client(hub, cy) as cy_online:  # cy is online: no push for cy
        await cy_online.subscribe(f"/exchange/{cy}.subscribe")
        await say(hub, ana, cid, text, urgency=4)
        await eventually(lambda: len(push.received) >= 3, timeout=10)

    [web] = push.of("webpush")
    assert web.key == bobs_browser.id
    assert web.payload["title"] == ana and web.payload["conversation"] == cid
    assert web.payload["body"] == text[:99] + "…" and len(web.payload["body"]) == 100
    assert web.headers["urgency"] == "high" and int(web.headers["ttl"]) == 86400
    [fcm] = push.of("fcm")
    assert fcm.key == f"fcm-{bob}" and fcm.payload["message"]["notification"]["body"] == web.payload["body"]
    assert fcm.payload["message"]["android"]["priority"] == "high"
    [apns] = push.of("apns")
    assert apns.key == f"apns-{bob}" and apns.http_version == "2"
    assert apns.payload["aps"]["alert"] == {"title": ana, "body": web.payload["body"]}
    assert apns.headers["apns-priority"] == "10"
    await asyncio.sleep(0.3)
    assert len(push.received) == 3  # nothing for the sender, nothing for cy who is online


async def test_an_ack_a_member_forges_pushes_nothing(hub: RunningHub, push: PushServices) -> None:
    """Only the worker's "stored" ack is pushed: a member sending acks of a stored message to
    the conversation's notifications cannot make its devices ring again and again."""
    ana, bob = fresh("ana"), fresh("bob")
    async with api(hub, ana) as anas, api(hub, bob) as bobs:
        cid = (await anas.create_conversation([bob]))["id"]
        await bobs.register_device("android", token=f"fcm-{bob}")
        await say(hub, ana, cid, "hi")
        await eventually(lambda: len(push.received) == 1, timeout=10)
        [stored] = await anas.messages(cid)
    forged = {"action": "ack", "object": "message", "data": {"id": stored["id"]}}
    async with client(hub, ana) as forger:
        for _ in range(3):
            await forger.send(
                f"/exchange/{ana}.publish/{cid}.notifications", forged, headers={STORED: "true"}
            )
    await asyncio.sleep(0.5)
    assert len(push.received) == 1


async def test_news_of_a_context_are_pushed_to_offline_readers_who_chose_push(
    hub: RunningHub, push: PushServices
) -> None:
    ana, bob, cy, dan, eve = (fresh(name) for name in ("ana", "bob", "cy", "dan", "eve"))
    admin = HutchAPI(hub.url, mint_token(fresh("admin"), SECRET, roles=["admin"]))
    async with admin, api(hub, ana) as anas, api(hub, bob) as bobs, api(hub, cy) as cys:
        hash = (
            await admin.create_context(
                f"https://school.example/{ana}", preset="open", notifications="comments"
            )
        )["hash"]
        for user in (ana, bob, cy, dan, eve):
            await admin.subscribe(hash, user)
            async with api(hub, user) as own:
                await own.register_device("android", token=f"fcm-{user}")
        await cys.preferences(hash, cy, push=False)  # cy chose not to be pushed
        await admin.call("DELETE", f"/api/contexts/{hash}/permissions/{dan}/read")  # dan may not read
        async with client(hub, eve) as eve_online:  # eve is online: live, not pushed
            await eve_online.subscribe(f"/exchange/{eve}.subscribe")
            post = await anas.post("<p>Exam on <b>Friday</b> &amp; Monday</p>", context=hash)
            await eventually(lambda: len(push.received) >= 1, timeout=10)
            await asyncio.sleep(0.3)
            [to_bob] = push.of("fcm")
            assert to_bob.key == f"fcm-{bob}"
            message = to_bob.payload["message"]
            assert message["notification"] == {"title": ana, "body": "Exam on Friday & Monday"}
            assert message["data"] == {"conversation": "", "context": hash, "id": post["id"]}
            await bobs.comment(post["id"], "which room?")
            await eventually(lambda: len(push.received) >= 2, timeout=10)
            await asyncio.sleep(0.3)
        # The comment: no news push to its author nor to the post's, who hears of it once, from the feed.
        assert [r.key for r in push.of("fcm")] == [f"fcm-{bob}", f"fcm-{ana}"]
        told = push.of("fcm")[1].payload["message"]
        assert told["notification"] == {
            "title": "comment",
            "body": f"{bob} commented on your post: which room?",
        }

        def news() -> list[str]:
            return [r.key for r in push.of("fcm") if r.payload["message"]["data"].get("context") == hash]

        broadcast = {"text": "pretending to be a post", "context": hash}
        await admin.call("POST", "/api/broadcast", broadcast)  # on the same key, not a stored post
        await asyncio.sleep(0.5)
        assert news() == [f"fcm-{bob}"]  # the broadcast reaches feeds, never as a post's news


async def test_new_notifications_are_pushed_unless_their_category_is_muted(
    hub: RunningHub, push: PushServices
) -> None:
    ana = fresh("ana")
    backend = HutchAPI(hub.url, mint_token(fresh("backend"), SECRET, roles=["admin"]))
    async with backend, api(hub, ana) as anas:
        await anas.register_device("android", token=f"fcm-{ana}")
        await anas.call("PUT", "/api/notifications/preferences", {"muted": ["digest"]})
        await backend.call("POST", f"/v1/notifications/{ana}", {"category": "digest", "message": "weekly"})
        made = await backend.call(
            "POST", f"/v1/notifications/{ana}", {"category": "alert", "message": "Disk full"}
        )
        await eventually(lambda: len(push.received) >= 1, timeout=10)
        await asyncio.sleep(0.3)
    [sent] = push.of("fcm")
    assert sent.payload["message"]["notification"] == {"title": "alert", "body": "Disk full"}
    assert sent.payload["message"]["data"]["id"] == made["id"]


async def test_dead_tokens_are_forgotten_and_low_urgency_says_so(hub: RunningHub, push: PushServices) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    browser = push.new_receiver()
    async with api(hub, ana) as anas, api(hub, bob) as bobs:
        cid = (await anas.create_conversation([bob]))["id"]
        web = await bobs.register_device("webpush", subscription=browser.subscription(push.base_url))
        await bobs.register_device("android", token=f"fcm-{bob}")
        await bobs.register_device("ios", token=f"apns-{bob}")
        push.answers = {f"fcm-{bob}": [404], f"apns-{bob}": [410]}
        await say(hub, ana, cid, "are you there?", urgency=1)

        def about(service: str) -> list[Any]:  # (being added may be pushed too, if planned late)
            return [r for r in push.of(service) if "are you there" in json.dumps(r.payload)]

        await eventually(lambda: all(len(about(s)) == 1 for s in ("webpush", "fcm", "apns")), timeout=10)
        for _ in range(100):
            if len(await bobs.devices()) == 1:
                break
            await asyncio.sleep(0.05)
        assert [d["id"] for d in await bobs.devices()] == [web["id"]]
    assert about("webpush")[0].headers["urgency"] == "very-low"
    assert about("apns")[0].headers["apns-priority"] == "5"


async def test_failures_are_retried_then_dead_lettered_with_the_reason(
    hub: RunningHub, push: PushServices
) -> None:
    ana, bob, cy = fresh("ana"), fresh("bob"), fresh("cy")
    flaky, broken = push.new_receiver(), push.new_receiver()
    push.answers = {flaky.id: [500], broken.id: [503, 503, 503]}
    dead: list[Delivery] = []

    def on_dead(delivery: Delivery) -> None:
        dead.append(delivery)
        hub.loop.create_task(delivery.ack())  # type: ignore[union-attr]

    consumer = hub.call(hub.node.broker.consume("push.dead", on_dead, prefetch=10))
    try:
        async with api(hub, ana) as anas, api(hub, bob) as bobs, api(hub, cy) as cys:
            cid = (await anas.create_conversation([bob, cy], "g"))["id"]
            await bobs.register_device("webpush", subscription=flaky.subscription(push.base_url))
            await cys.register_device("webpush", subscription=broken.subscription(push.base_url))
        await say(hub, ana, cid, "hello")
        mine = lambda: [d for d in dead if broken.id.encode() in d.message.body]  # noqa: E731
        await eventually(lambda: len(mine()) == 1, timeout=10)
        assert len(push.of("webpush", flaky.id)) == 2  # answered 500, then taken
        assert len(push.of("webpush", broken.id)) == 3  # 1 + 2 retries, all refused
        assert "503" in mine()[0].message.headers["x-hutch-dead-reason"]
        assert push.of("webpush", broken.id)[0].payload["body"] == "hello"
    finally:
        hub.call(consumer.cancel())


async def test_a_slow_provider_does_not_hold_up_the_others(hub: RunningHub, push: PushServices) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    browser = push.new_receiver()
    push.delays["fcm"] = 3.0
    async with api(hub, ana) as anas, api(hub, bob) as bobs:
        cid = (await anas.create_conversation([bob]))["id"]
        await bobs.register_device("android", token=f"fcm-{bob}")
        await bobs.register_device("webpush", subscription=browser.subscription(push.base_url))
    for n in range(3):
        await say(hub, ana, cid, f"message {n}")
    await eventually(lambda: len(push.of("webpush")) == 3, timeout=10)
    assert push.answered["fcm"] == 0  # every FCM send still waits on the slow service
    assert sorted(r.payload["body"] for r in push.of("webpush")) == ["message 0", "message 1", "message 2"]
    await eventually(lambda: push.answered["fcm"] == 3, timeout=10)


async def test_hutch_push_bridge_runs_as_its_own_process(services: PushServices) -> None:
    await purge_push_queues(AMQP_URL)
    settings = hub_settings("amqp")
    environment = {f"HUTCH_{name.upper()}": str(value) for name, value in services.settings().items()}
    with running_hub(**settings, dev_mode=False, jwt_secret=SECRET) as hub:
        assert hub.node.push_bridge is None  # on RabbitMQ, nodes leave pushing to the bridge
        bridge = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("hutch")),
            "push-bridge",
            "--amqp",
            AMQP_URL,
            "--redis",
            REDIS_URL,
            env=os.environ | environment,
        )
        services.received.clear()
        await services.start()
        try:
            ana, bob = fresh("ana"), fresh("bob")
            browser = services.new_receiver()
            async with api(hub, ana) as anas, api(hub, bob) as bobs:
                cid = (await anas.create_conversation([bob]))["id"]
                await bobs.register_device("webpush", subscription=browser.subscription(services.base_url))
            await say(hub, ana, cid, "from the bridge process")

            def chat_pushes() -> list[str]:  # bob's feed news ("ana added you") may come too
                bodies = [push.payload["body"] for push in services.of("webpush", browser.id)]
                return [body for body in bodies if body == "from the bridge process"]

            await eventually(lambda: len(chat_pushes()) == 1, timeout=15)
        finally:
            bridge.terminate()
            assert await asyncio.wait_for(bridge.wait(), 15) in (0, -15)
            await services.stop()


@contextlib.asynccontextmanager
async def bare_broker(backend: str) -> AsyncIterator[Broker]:
    """A broker with the hub's base topology and nothing else (RabbitMQ: a vhost of its own)."""
    with rabbitmq_vhost() if backend == "amqp" else contextlib.nullcontext("") as url:
        broker: Broker = AmqpBroker(url) if url else MemoryBroker()
        if isinstance(broker, AmqpBroker):
            await broker.connect()
        try:
            await topology.declare_base(broker)
            yield broker
        finally:
            await broker.close()


class Recorder:
    """A push service that keeps what it is asked to send."""

    platform = "android"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (device, message id)

    async def send(self, device: Device, notification: Notification) -> None:
        self.sent.append((device.id, notification.message_id))

    async def close(self) -> None:
        pass


class PublishFailsOnce:
    """The broker, but its second publish fails (RabbitMQ went away for a moment)."""

    def __init__(self, broker: Broker):
        self.broker = broker
        self.publishes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.broker, name)

    async def publish(self, exchange: str, key: str, message: Message) -> None:
        self.publishes += 1
        if self.publishes == 2:
            raise BrokerUnavailable("RabbitMQ is unreachable; retry once it is back")
        await self.broker.publish(exchange, key, message)


@pytest.mark.parametrize("backend", BROKERS)
async def test_without_a_push_service_nothing_piles_up_for_pushes(backend: str) -> None:
    """A hub that pushes nowhere keeps no `push` queue: its notifications are not kept for nobody."""
    async with bare_broker(backend) as broker:
        bridge = PushBridge(broker, [], **memory_stores())
        await bridge.start()
        await broker.publish(names.CONVERSATIONS, "c1.notifications", Message(b"{}"))
        with pytest.raises(NotFound):
            await broker.declare_queue(names.PUSH_QUEUE, passive=True)
        await bridge.stop()


@pytest.mark.parametrize("backend", BROKERS)
async def test_a_plan_tried_again_pushes_each_device_once(backend: str) -> None:
    stores, recorder = memory_stores(), Recorder()
    store, devices = stores["conversations"], stores["devices"]
    await store.put_conversation(Conversation("c1", "group", ["ana", "bo", "cy"], owner="ana", group=True))
    for user in ("bo", "cy"):
        await devices.add(Device(f"{user}-phone", user, "android", f"token-{user}"))
    stored_id, _ = await store.append("c1", "ana", {"data": {"text": "hi"}}, None)
    async with bare_broker(backend) as broker:
        bridge = PushBridge(PublishFailsOnce(broker), [recorder], **stores)  # type: ignore[arg-type]
        bridge.retry_delays = (0.05,)
        try:
            await bridge.start()
            ack = {"action": "ack", "object": "message", "data": {"id": stored_id}}
            await broker.publish(
                names.CONVERSATIONS,
                "c1.notifications",
                Message(json.dumps(ack).encode(), {STORED: "true"}),
            )
            await eventually(lambda: len(recorder.sent) >= 2)
            await asyncio.sleep(0.2)  # a second push to the first device would have come by now
            assert sorted(recorder.sent) == [("bo-phone", stored_id), ("cy-phone", stored_id)]
        finally:
            await bridge.stop()


@pytest.mark.parametrize("backend", BROKERS)
async def test_a_job_that_is_not_one_is_dead_lettered_not_stuck(backend: str) -> None:
    recorder, dead = Recorder(), list[Delivery]()
    async with bare_broker(backend) as broker:
        bridge = PushBridge(broker, [recorder], **memory_stores())
        try:
            await bridge.start()
            await broker.consume("push.dead", dead.append, no_ack=True)
            await broker.publish("", "push.android", Message(b"not json"))
            await eventually(lambda: len(dead) == 1)
            assert dead[0].message.body == b"not json"
            assert dead[0].message.headers["x-hutch-dead-reason"].startswith("not a push job")
            assert recorder.sent == []
        finally:
            await bridge.stop()


def memory_stores() -> dict[str, Any]:
    return {
        "conversations": MemoryConversationStore(),
        "presence": MemoryPresence(),
        "devices": MemoryDevices(),
    }


@pytest.mark.parametrize("backend", BROKERS)
async def test_a_message_stored_on_send_is_pushed_once(
    backend: str, services: PushServices, push: PushServices
) -> None:
    """No worker's ack follows a message stored on send: the message itself is pushed, once,
    and a member's forged ack still pushes nothing."""
    ana, bob = fresh("ana"), fresh("bob")
    with contextlib.ExitStack() as stack:
        settings = hub_settings(backend) | services.settings()
        if backend == "amqp":  # a push queue of its own, bound for stored messages
            settings["amqp_url"] = stack.enter_context(rabbitmq_vhost())
        hub = stack.enter_context(
            running_hub(**settings, push_bridge=True, store_on_send=True, dev_mode=False, jwt_secret=SECRET)
        )
        async with api(hub, ana) as anas, api(hub, bob) as bobs:
            cid = (await anas.create_conversation([bob]))["id"]
            await bobs.register_device("android", token=f"fcm-{bob}")
            await say(hub, ana, cid, "stored first")
            await eventually(lambda: len(push.received) == 1, timeout=10)
            [stored] = await anas.messages(cid)
            forged = {"action": "ack", "object": "message", "data": {"id": stored["id"]}}
            async with client(hub, ana) as forger:
                await forger.send(
                    f"/exchange/{ana}.publish/{cid}.notifications", forged, headers={STORED: "true"}
                )
        await asyncio.sleep(0.5)
    [fcm] = push.of("fcm")
    assert fcm.key == f"fcm-{bob}" and fcm.payload["message"]["notification"]["body"] == "stored first"
