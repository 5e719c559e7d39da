"""Conversations through REST and STOMP, on the embedded backends and on RabbitMQ + Redis."""

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from backends import BROKERS, SECRET, hub_settings
from chat_clients import PACKED, Api, chat_message, device, next_of, say, unpacked, wait_history
from hub_server import RunningHub, running_hub
from hutch.hub.auth import mint_token
from hutch.hub.conversations.service import envelope


@pytest.fixture(
    scope="module",
    params=[(b, s) for b in BROKERS for s in (False, True)],
    ids=lambda p: f"{p[0]}-{'store-on-send' if p[1] else 'worker-stores'}",
)
def hub(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """Each backend, with the worker storing chat messages, then with the node storing them as
    they are sent (`HUTCH_STORE_ON_SEND`): members see the same either way."""
    backend, store_on_send = request.param
    settings = hub_settings(backend) | {"store_on_send": store_on_send}
    with running_hub(**settings, dev_mode=False, jwt_secret=SECRET, history_limit=150) as running:
        yield running


async def test_conversations_of_two_are_reused_groups_have_owners(
    hub: RunningHub, people: dict[str, str]
) -> None:
    ana, bob, cy, dee = (Api(hub, people[n]) for n in ("ana", "bob", "cy", "dee"))
    pair = await ana.call("POST", "/conversations", {"participants": [people["bob"]]}, status=201)
    again = await bob.call("POST", "/conversations", {"participants": [people["ana"]]}, status=200)
    assert again["id"] == pair["id"] and pair["owner"] is None
    group = await ana.call(
        "POST",
        "/conversations",
        {"participants": [people["bob"], people["cy"]], "displayName": "team"},
        status=201,
    )
    assert group["owner"] == people["ana"] and group["group"] is True

    refused = await cy.call("PATCH", f"/conversations/{group['id']}", {"displayName": "mine"}, status=403)
    assert refused == {
        "objectType": "error",
        "error": "Forbidden",
        "error_description": refused["error_description"],
    }
    await dee.call("GET", f"/conversations/{group['id']}", status=403)
    await dee.call("GET", "/conversations/nope", status=404)
    assert (await ana.call("PATCH", f"/conversations/{group['id']}", {"displayName": "crew"}))[
        "displayName"
    ] == "crew"
    await ana.call(
        "POST", f"/conversations/{group['id']}/participants", {"username": people["dee"]}, status=201
    )
    await ana.call("POST", f"/conversations/{group['id']}/owner", {"username": people["bob"]})
    await ana.call(
        "POST", f"/conversations/{group['id']}/participants", {"username": "x"}, status=403
    )  # no longer owner
    await dee.call(
        "DELETE", f"/conversations/{group['id']}/participants/{people['dee']}", status=204
    )  # leaves
    listed = await ana.call("GET", "/conversations")
    assert [c["id"] for c in listed] == [group["id"], pair["id"]]  # newest activity first
    assert listed[0]["participants"] == [people["ana"], people["bob"], people["cy"]]


async def test_chat_with_stored_and_read_checks_history_and_unread(
    hub: RunningHub, people: dict[str, str]
) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    ana, bob = Api(hub, ana_name), Api(hub, bob_name)
    cid = await ana.start_with(bob_name)
    ana_phone = await device(hub, ana_name)
    await ana_phone.subscribe(f"/exchange/{ana_name}.subscribe")
    bob_phone, bob_laptop = await device(hub, bob_name), await device(hub, bob_name)
    for client in (bob_phone, bob_laptop):
        await client.subscribe(f"/exchange/{bob_name}.subscribe")

    for text in ("one", "two", "three"):
        await say(ana_phone, ana_name, cid, text)
    for client in (bob_phone, bob_laptop):
        assert [(await next_of(client, "add"))["data"]["text"] for _ in range(3)] == ["one", "two", "three"]
    stored = await next_of(ana_phone, "ack")  # the "stored" check, with the stored id
    assert stored["object"] == "message" and stored["data"]["id"]

    history = await wait_history(bob, cid, 3)
    assert [m["data"]["text"] for m in history] == ["one", "two", "three"]
    assert [m["sender"] for m in history] == [ana_name] * 3
    assert (await bob.call("GET", "/unread"))["conversations"][cid] == 3
    assert (await ana.call("GET", "/unread"))["conversations"][cid] == 0  # one's own messages are read

    await bob.call("POST", f"/conversations/{cid}/read", {"id": history[1]["id"]}, status=204)
    receipt = await next_of(ana_phone, "read")  # the "read" check MAX never had
    assert receipt["user"]["username"] == bob_name and receipt["data"]["id"] == history[1]["id"]
    await next_of(bob_laptop, "read")  # bob's other device learns it too
    assert (await bob.call("GET", "/unread"))["total"] == 1
    summary = (await bob.call("GET", "/conversations"))[0]
    assert (summary["unread"], summary["lastMessage"]["data"]["text"]) == (1, "three")

    page = await bob.call("GET", f"/conversations/{cid}/messages?before={history[2]['id']}&limit=1")
    assert [m["data"]["text"] for m in page] == ["two"]
    after = await bob.call("GET", f"/conversations/{cid}/messages?after={history[0]['id']}")
    assert [m["data"]["text"] for m in after] == ["two", "three"]
    await bob.call("POST", f"/conversations/{cid}/messages", {"text": "via REST"}, status=201)
    assert (await next_of(ana_phone, "add"))["data"]["text"] == "via REST"
    for client in (ana_phone, bob_phone, bob_laptop):
        await client.close()


async def test_non_members_can_neither_read_nor_write(hub: RunningHub, people: dict[str, str]) -> None:
    ana, dee = people["ana"], people["dee"]
    cid = (await Api(hub, ana).call("POST", "/conversations", {"participants": [people["bob"]]}, status=201))[
        "id"
    ]
    for destination, command in [
        (f"/exchange/conversations/{cid}.*", "SUBSCRIBE"),
        (f"/exchange/{ana}.subscribe", "SUBSCRIBE"),
        (f"/exchange/{dee}.publish/{cid}.messages", "SEND"),
        (f"/exchange/{ana}.publish/{cid}.messages", "SEND"),
        ("/amq/queue/messages", "SUBSCRIBE"),
        ("/exchange/activity/x", "SEND"),
    ]:
        intruder = await device(hub, dee)
        await intruder.send(
            command, {"destination": destination, "id": "1"}, b"" if command == "SUBSCRIBE" else b"hi"
        )
        error = await intruder.error_then_close()
        assert error.headers["message"] == "access refused", destination
    await Api(hub, dee).call("GET", f"/conversations/{cid}/messages", status=403)
    await Api(hub, dee).call("POST", f"/conversations/{cid}/messages", {"text": "hi"}, status=403)
    member = await device(hub, people["bob"])
    await member.subscribe(f"/exchange/conversations/{cid}.*")  # members may
    await member.close()


async def test_a_removed_member_receives_nothing_more(hub: RunningHub, people: dict[str, str]) -> None:
    ana_name, cy_name = people["ana"], people["cy"]
    ana = Api(hub, ana_name)
    cid = (await ana.call("POST", "/conversations", {"participants": [people["bob"], cy_name]}, status=201))[
        "id"
    ]
    ana_phone, cy_phone = await device(hub, ana_name), await device(hub, cy_name)
    await cy_phone.subscribe(f"/exchange/{cy_name}.subscribe")
    await say(ana_phone, ana_name, cid, "before")
    assert (await next_of(cy_phone, "add"))["data"]["text"] == "before"
    await ana.call("DELETE", f"/conversations/{cid}/participants/{cy_name}", status=204)
    await say(ana_phone, ana_name, cid, "after")
    with pytest.raises(TimeoutError):
        await next_of(cy_phone, "add", timeout=0.6)
    await cy_phone.send(
        "SEND", {"destination": f"/exchange/{cy_name}.publish/{cid}.messages"}, b"still here?"
    )
    assert (await cy_phone.error_then_close()).headers["message"] == "access refused"
    await ana_phone.close()


async def test_reconnect_recovers_100_missed_messages_in_order_then_live(
    hub: RunningHub, people: dict[str, str]
) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    ana, bob = Api(hub, ana_name), Api(hub, bob_name)
    cid = await ana.start_with(bob_name)
    sender = await device(hub, ana_name)
    await say(sender, ana_name, cid, "seen")
    last_seen = (await wait_history(bob, cid, 1))[-1]["id"]

    for number in range(100):  # bob is away
        await say(sender, ana_name, cid, f"missed {number}")
    await wait_history(bob, cid, 101)

    bob_phone = await device(hub, bob_name)
    await bob_phone.send(
        "SUBSCRIBE",
        {"id": "0", "destination": f"/exchange/{bob_name}.subscribe", "x-since": last_seen, "receipt": "r"},
    )
    frames = [await bob_phone.recv() for _ in range(101)]
    receipt = frames.pop()
    assert receipt.command == "RECEIPT" and receipt.headers["x-recovered"] == "true"
    assert receipt.headers["x-replayed"] == "100"
    texts = [unpacked(f)["data"]["text"] for f in frames]
    assert texts == [f"missed {n}" for n in range(100)]
    assert all(f.headers["x-hutch-replay"] == "true" for f in frames)
    ids = [f.headers["x-hutch-id"] for f in frames]
    assert len(set(ids)) == 100

    await say(sender, ana_name, cid, "live again")
    assert (await next_of(bob_phone, "add"))["data"]["text"] == "live again"
    with pytest.raises(TimeoutError):
        await next_of(bob_phone, "add", timeout=0.5)  # and nothing twice
    await bob_phone.close()
    await sender.close()


async def test_a_message_stored_after_the_replay_comes_with_its_stored_ack(
    hub: RunningHub, people: dict[str, str]
) -> None:
    """Routed before bob's stream was bound and stored after his replay read history (the
    worker lagged): neither live nor replayed. Its "stored" ack reaches the stream, and the hub
    then reads the message and sends it, once."""
    ana_name, bob_name = people["ana"], people["bob"]
    ana, bob = Api(hub, ana_name), Api(hub, bob_name)
    cid = await ana.start_with(bob_name)
    sender = await device(hub, ana_name)
    await say(sender, ana_name, cid, "seen")
    last_seen = (await wait_history(bob, cid, 1))[-1]["id"]
    bob_phone = await device(hub, bob_name)
    await bob_phone.send(
        "SUBSCRIBE",
        {"id": "0", "destination": f"/exchange/{bob_name}.subscribe", "x-since": last_seen, "receipt": "r"},
    )
    assert (await bob_phone.recv()).headers["x-replayed"] == "0"

    late_uuid = uuid.uuid4().hex
    late = {"uuid": late_uuid, "user": {"username": ana_name}, "action": "add", "object": "message"}
    late |= {"data": {"text": "late"}}
    conversations, store = hub.node.conversations, hub.node.stores.conversations
    stored_id, _ = await asyncio.to_thread(hub.call, store.append(cid, ana_name, late, late_uuid))
    ack = envelope(ana_name, "ack", "message", {"id": stored_id}, cid, late_uuid)
    key = f"{cid}.notifications"
    await asyncio.to_thread(hub.call, conversations.publish(ana_name, key, ack, {"x-hutch-stored": "true"}))

    missed = await next_of(bob_phone, "add")
    assert missed["data"]["text"] == "late" and missed["uuid"] == late_uuid
    with pytest.raises(TimeoutError):
        await next_of(bob_phone, "add", timeout=0.5)  # and nothing twice
    await bob_phone.close()
    await sender.close()


async def test_a_gap_older_than_history_is_said(hub: RunningHub, people: dict[str, str]) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    ana = Api(hub, ana_name)
    cid = await ana.start_with(bob_name)
    sender = await device(hub, ana_name)
    await say(sender, ana_name, cid, "first")
    first = (await wait_history(ana, cid, 1))[0]["id"]
    for number in range(160):  # history keeps 150
        await say(sender, ana_name, cid, f"n{number}")
    for _ in range(200):
        if (await ana.call("GET", f"/conversations/{cid}/messages?limit=1"))[0]["data"]["text"] == "n159":
            break
        await asyncio.sleep(0.05)
    bob_phone = await device(hub, bob_name)
    await bob_phone.send(
        "SUBSCRIBE",
        {"id": "0", "destination": f"/exchange/{bob_name}.subscribe", "x-since": first, "receipt": "r"},
    )
    frames = [await bob_phone.recv() for _ in range(151)]
    assert frames[-1].headers["x-recovered"] == "false"
    assert frames[0].headers["x-recovered"] == "false"
    await bob_phone.close()
    await sender.close()


async def test_a_message_sent_twice_is_stored_and_delivered_once(
    hub: RunningHub, people: dict[str, str]
) -> None:
    ana_name, bob_name = people["ana"], people["bob"]
    bob = Api(hub, bob_name)
    cid = (await Api(hub, ana_name).call("POST", "/conversations", {"participants": [bob_name]}, status=201))[
        "id"
    ]
    bob_phone = await device(hub, bob_name)
    await bob_phone.subscribe(f"/exchange/{bob_name}.subscribe")
    sender = await device(hub, ana_name)
    body = chat_message(ana_name, "once")
    for _ in range(2):  # a retry after a lost receipt
        await sender.publish(f"/exchange/{ana_name}.publish/{cid}.messages", body, **PACKED)
    assert (await next_of(bob_phone, "add"))["data"]["text"] == "once"
    with pytest.raises(TimeoutError):
        await next_of(bob_phone, "add", timeout=0.5)
    await asyncio.sleep(0.3)
    assert len(await bob.call("GET", f"/conversations/{cid}/messages")) == 1
    await bob_phone.close()
    await sender.close()


async def test_presence(hub: RunningHub, people: dict[str, str]) -> None:
    ana = Api(hub, people["ana"])
    phone = await device(hub, people["bob"])
    found = await ana.call("GET", f"/presence?users={people['bob']},{people['cy']}")
    assert found == {
        people["bob"]: {"online": True, "devices": 1},
        people["cy"]: {"online": False, "devices": 0},
    }
    await phone.close()
    for _ in range(50):
        if not (await ana.call("GET", f"/presence?users={people['bob']}"))[people["bob"]]["online"]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("bob stayed online after closing")


async def test_openapi_document(hub: RunningHub) -> None:
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{hub.url}/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/api/conversations/{cid}/read"]


async def test_only_admins_broadcast(hub: RunningHub, people: dict[str, str]) -> None:
    listener = await device(hub, people["ana"])
    await listener.subscribe(f"/exchange/{people['ana']}.subscribe", "stream")
    await Api(hub, people["ana"]).call("POST", "/broadcast", {"text": "hello all"}, status=403)
    admin = Api(hub, people["dee"], roles=["admin"])
    sent = await admin.call("POST", "/broadcast", {"text": "maintenance at noon"}, status=202)
    assert sent["kind"] == "send" and sent["message"]["data"]["text"] == "maintenance at noon"
    heard = unpacked(await listener.recv())
    assert heard["object"] == "direct" and heard["data"]["text"] == "maintenance at noon"
    await listener.close()


def test_the_worker_runs_as_its_own_process(people: dict[str, str]) -> None:
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from backends import AMQP_URL, REDIS_URL

    settings = {"amqp_url": AMQP_URL, "redis_url": REDIS_URL, "worker": False}
    with running_hub(**settings, dev_mode=False, jwt_secret=SECRET) as hub:
        hutch = Path(sys.executable).with_name("hutch")
        worker = subprocess.Popen(
            [str(hutch), "worker", "--amqp", AMQP_URL, "--redis", REDIS_URL],
            env=os.environ | {"HUTCH_DEV_MODE": "0"},
        )
        try:
            ana = httpx.Client(
                base_url=f"{hub.url}/api",
                headers={"Authorization": f"Bearer {mint_token(people['ana'], SECRET)}"},
            )
            cid = ana.post("/conversations", json={"participants": [people["bob"]]}).json()["id"]
            assert (
                ana.post(f"/conversations/{cid}/messages", json={"text": "stored by the worker"}).status_code
                == 201
            )
            for _ in range(100):
                found = ana.get(f"/conversations/{cid}/messages").json()
                if found:
                    break
                time.sleep(0.1)
            assert [m["data"]["text"] for m in found] == ["stored by the worker"]
        finally:
            worker.terminate()
            assert worker.wait(15) in (0, -15)


def test_hub_envelopes_have_fresh_uuids_or_the_one_they_answer() -> None:
    uuids = [envelope("ana", "add", "message", {}, "c1")["uuid"] for _ in range(1000)]  # several pools
    assert len(set(uuids)) == 1000
    assert all(re.fullmatch("[0-9a-f]{32}", u) for u in uuids)
    assert envelope("ana", "ack", "message", {}, "c1", uuid=uuids[0])["uuid"] == uuids[0]
