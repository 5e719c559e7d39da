"""The asyncio client against a real hub: receipts, callbacks, acks, errors, reconnect, recovery."""

import asyncio
import io
import uuid

import pytest
from backends import SECRET, hub_settings
from hub_server import RunningHub, free_port, hub_fixture, running_hub
from hutch.clients.python import APIError, HutchAPI, HutchClient, Message, Refused
from hutch.hub.auth import mint_token
from PIL import Image

hub = hub_fixture(dev_mode=False, jwt_secret=SECRET)


def fresh(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


def client(hub: RunningHub, user: str, **options: object) -> HutchClient:
    return HutchClient(hub.ws_url, user, mint_token(user, SECRET), **options)  # type: ignore[arg-type]


def api(hub: RunningHub, user: str) -> HutchAPI:
    return HutchAPI(hub.url, mint_token(user, SECRET))


async def next_chat(stream: object, timeout: float = 5.0) -> dict:
    """The next chat message ("add") of a user stream, skipping stored and read checks."""
    while True:
        message = await stream.get(timeout)  # type: ignore[attr-defined]
        data = message.data()
        if data.get("action") == "add":
            return data


async def test_chat_with_async_for_and_stored_acks(hub: RunningHub) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    async with api(hub, ana) as rest:
        cid = (await rest.create_conversation([bob]))["id"]
    async with client(hub, ana) as a, client(hub, bob) as b:
        bobs = await b.subscribe(f"/exchange/{bob}.subscribe")
        await a.say(cid, "hello bob")
        seen = []
        async for message in bobs:
            seen.append(message.data())
            if len(seen) == 2:
                break
        assert seen[0]["action"] == "add" and seen[0]["data"]["text"] == "hello bob"
        assert seen[0]["user"]["username"] == ana
        assert seen[1]["action"] == "ack" and seen[1]["uuid"] == seen[0]["uuid"]
        assert bobs.last_id == seen[1]["data"]["id"]


async def test_callbacks_and_plain_text(hub: RunningHub) -> None:
    topic = f"/topic/{fresh('news')}"
    got: asyncio.Queue[Message] = asyncio.Queue()

    async def on_message(message: Message) -> None:
        await got.put(message)

    async with client(hub, fresh("ana")) as listener, client(hub, fresh("bob")) as speaker:
        await listener.subscribe(topic, on_message)
        await speaker.send(topic, "plain words")
        message = await asyncio.wait_for(got.get(), 5)
        assert message.text == "plain words" and message.data() == "plain words"
        assert message.destination == topic


async def test_client_acks_and_nacks_redeliver(hub: RunningHub) -> None:
    queue = f"/queue/{fresh('jobs')}"
    async with client(hub, fresh("ana")) as worker, client(hub, fresh("bob")) as boss:
        jobs = await worker.subscribe(queue, ack="client-individual")
        await boss.send(queue, "job 1")
        first = await jobs.get(5)
        await worker.nack(first)
        again = await jobs.get(5)
        assert again.text == "job 1" and again.headers["redelivered"] == "true"
        await worker.ack(again)
        await boss.send(queue, "job 2")
        assert (await jobs.get(5)).text == "job 2"


async def test_refusals_raise_and_the_client_carries_on(hub: RunningHub) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    async with client(hub, ana, backoff=(0.05, 0.2)) as a:
        topic = f"/topic/{fresh('t')}"
        mine = await a.subscribe(topic)
        with pytest.raises(Refused) as refused:
            await a.subscribe(f"/exchange/{bob}.subscribe")
        assert refused.value.message == "access refused"
        # the hub closed that connection; the client came back and subscribed `mine` again
        await a.wait_connected()
        await a.send(topic, "still here")
        assert (await mine.get(5)).text == "still here"
        assert a.connections == 2


async def test_a_bad_token_is_refused_at_connect(hub: RunningHub) -> None:
    with pytest.raises(Refused) as refused:
        await HutchClient(hub.ws_url, "ana", "not-a-token").connect()
    assert (refused.value.message, refused.value.detail) == ("Bad CONNECT", "Access refused for user 'ana'\n")


async def test_rest_helpers(hub: RunningHub) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    async with api(hub, ana) as rest, api(hub, bob) as bobs:
        conversation = await rest.create_conversation([bob, fresh("cy")], "trio")
        cid = conversation["id"]
        assert conversation["owner"] == ana and conversation["displayName"] == "trio"
        await rest.post_message(cid, "one")
        for _ in range(100):
            if history := await bobs.messages(cid):
                break
            await asyncio.sleep(0.05)
        assert [m["data"]["text"] for m in history] == ["one"]
        assert (await bobs.unread())["conversations"] == {cid: 1}
        await bobs.mark_read(cid, history[0]["id"])
        assert (await bobs.unread())["total"] == 0
        device = await bobs.register_device("android", token="fcm-token-1")
        assert device["platform"] == "android"
        assert [d["id"] for d in await bobs.devices()] == [device["id"]]
        await bobs.remove_device(device["id"])
        assert await bobs.devices() == []
        with pytest.raises(APIError) as error:
            await bobs.remove_device(device["id"])
        assert error.value.status == 404 and error.value.error == "ObjectNotFound"
        with pytest.raises(APIError) as error:
            await bobs.register_device("webpush", subscription={"endpoint": "nowhere"})
        assert error.value.status == 400 and "p256dh" in error.value.description


async def test_reconnects_after_a_hub_restart_and_subscribes_again() -> None:
    port = free_port()
    ana = fresh("ana")
    topic = f"/topic/{fresh('t')}"
    with running_hub(port, dev_mode=False, jwt_secret=SECRET):
        listener = client_at(port, ana)
        await listener.connect()
        stream = await listener.subscribe(topic)
    # the hub is gone: the client keeps trying with backoff
    await asyncio.sleep(0.3)
    assert not listener.connected
    with running_hub(port, dev_mode=False, jwt_secret=SECRET):
        await listener.wait_connected(10)
        async with client_at(port, fresh("bob")) as speaker:
            await speaker.send(topic, "after the restart")
            assert (await stream.get(5)).text == "after the restart"
        assert listener.connections == 2
        await listener.close()


@pytest.mark.parametrize("backend", ["amqp"])
async def test_recovers_what_it_missed_while_its_node_was_down(backend: str) -> None:
    """Two nodes on RabbitMQ and Redis: ana's node restarts while bob, on the other, talks on."""
    ana, bob = fresh("ana"), fresh("bob")
    port = free_port()
    settings = hub_settings(backend) | {"dev_mode": False, "jwt_secret": SECRET}
    with running_hub(**settings) as other:
        async with api(other, ana) as rest:
            cid = (await rest.create_conversation([bob]))["id"]
        with running_hub(port, **settings):
            anas = client_at(port, ana, backoff=(0.05, 0.5))
            await anas.connect()
            stream = await anas.subscribe(f"/exchange/{ana}.subscribe", recover=True)
            async with client(other, bob) as bobs:
                await bobs.say(cid, "before")
                assert (await next_chat(stream))["data"]["text"] == "before"
                while stream.last_id is None:  # the stored ack tells where recovery starts
                    await stream.get(5)
        async with client(other, bob) as bobs:
            for n in range(5):
                await bobs.say(cid, f"missed {n}")
            async with api(other, ana) as rest:
                for _ in range(100):
                    if len(await rest.messages(cid)) == 6:
                        break
                    await asyncio.sleep(0.05)
        with running_hub(port, **settings):
            await anas.wait_connected(10)
            got = [(await next_chat(stream))["data"]["text"] for _ in range(5)]
            assert got == [f"missed {n}" for n in range(5)]
            assert stream.recovered is True and stream.replayed == 5
            await anas.close()


def client_at(port: int, user: str, **options: object) -> HutchClient:
    return HutchClient(f"ws://127.0.0.1:{port}/ws", user, mint_token(user, SECRET), **options)  # type: ignore[arg-type]


def test_only_the_workers_stored_ack_moves_the_recovery_cursor() -> None:
    """A member can send an ack with any id to a conversation's notifications; without the
    hub's x-hutch-stored header it says nothing of what is stored."""
    import json

    ack = json.dumps({"action": "ack", "object": "message", "data": {"id": "99999999999999-0"}}).encode()
    headers = {"content-type": "application/json"}
    forged = Message("/exchange/x.publish/c.notifications", headers, ack, None)  # type: ignore[arg-type]
    real = Message("/exchange/x.publish/c.notifications", headers | {"x-hutch-stored": "true"}, ack, None)  # type: ignore[arg-type]
    assert forged.stored_id is None
    assert real.stored_id == "99999999999999-0"


async def test_people_helpers(hub: RunningHub) -> None:
    ana, bob = fresh("ana"), fresh("bob")
    async with api(hub, ana) as rest, api(hub, bob) as bobs:
        profile = await rest.update_person(ana, displayName=f"Ana {ana}z")
        assert profile["displayName"] == f"Ana {ana}z"
        assert (await bobs.person(ana))["username"] == ana
        assert [p["username"] for p in await bobs.people(f"{ana}z")] == [ana]
        with pytest.raises(APIError) as error:
            await bobs.update_person(ana, displayName="not yours")
        assert error.value.status == 403


async def test_context_and_activity_helpers(hub: RunningHub) -> None:
    ana, boss = fresh("ana"), fresh("boss")
    admin = HutchAPI(hub.url, mint_token(boss, SECRET, roles=["admin"]))
    async with admin, api(hub, ana) as rest:
        context = await admin.create_context(f"https://school.example/{ana}", preset="open")
        await rest.subscribe(context["hash"], ana)
        post = await rest.post("hello", context=context["hash"])
        assert (await rest.like(post["id"]))["likesCount"] == 1
        await rest.comment(post["id"], "me too")
        page = await rest.timeline(ana)
        assert [a["id"] for a in page["items"]] == [post["id"]] and page["next"] is None
        assert (await rest.context_activities(context["hash"], limit=1))["items"][0]["commentsCount"] == 1
        older = await rest.post("older", context=context["hash"])
        await rest.comment(older["id"], "bumped")
        by_comments = await rest.timeline(ana, sort="comments", tags=None)
        assert [a["id"] for a in by_comments["items"]] == [older["id"], post["id"]]
        assert [c["content"] for c in await rest.comments(older["id"])] == ["bumped"]
        assert (await rest.favorite(post["id"]))["favoritesCount"] == 1
        assert [a["id"] for a in (await rest.favorites(ana))["items"]] == [post["id"]]
        subscription = await rest.preferences(context["hash"], ana, push=False)
        assert (subscription["realtime"], subscription["push"]) == (True, False)
        file = await rest.post_file(b"notes", "notes.txt", "my notes", as_user=ana)
        assert (file["object"]["objectType"], file["object"]["filename"]) == ("file", "notes.txt")
        picture = io.BytesIO()
        Image.new("RGB", (40, 40)).save(picture, "PNG")
        assert (await rest.set_avatar(ana, picture.getvalue()))["avatar"] == f"/api/people/{ana}/avatar"
        await rest.delete_activity(file["id"])
        with pytest.raises(APIError) as error:
            await rest.activity(file["id"])
        assert error.value.status == 404


async def test_notification_helpers(hub: RunningHub) -> None:
    ana, boss, category = fresh("ana"), fresh("boss"), fresh("cat")
    admin = HutchAPI(hub.url, mint_token(boss, SECRET, roles=["admin"]))
    async with admin, api(hub, ana) as rest:
        await admin.put_rule(category, max_size=2)
        made = [await admin.notify(ana, category, f"m{n}", target="x") for n in range(3)]
        assert await rest.unseen() == 3
        page = await rest.notifications(limit=10)
        assert [[n["message"], *(o["message"] for o in n.get("notifications", []))] for n in page] == [
            ["m2", "m1"],
            ["m0"],
        ]
        assert await rest.unseen() == 0
        await rest.delete_notifications([made[0]["id"]])
        assert len(await rest.notifications()) == 1
        assert await rest.mute(["digest"]) == ["digest"]
        await rest.delete_notifications()
        assert await rest.notifications() == []
