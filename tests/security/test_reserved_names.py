"""No client reaches what belongs to the hub, the broker or another user, whatever it names."""

import asyncio

import pytest
from hub_server import RunningHub, WsClient, join
from hutch.hub.auth import mint_token
from hutch.hub.core.subscriber import durable_queue_name
from security.helpers import SECRET, chat, fresh, inbox, refused, silent


def node_queues(hub: RunningHub) -> list[str]:
    node = hub.node.settings.node_id
    return [f"hutch.node.{node}.streams", f"hutch.node.{node}.conversations.1"]


@pytest.mark.parametrize(
    ("command", "destination"),
    [
        ("SEND", "/exchange/hutch.control"),
        ("SUBSCRIBE", "/exchange/hutch.control"),
        ("SEND", "/exchange/conversations/{cid}.messages"),
        ("SEND", "/exchange/activity/news"),
        ("SUBSCRIBE", "/exchange/activity"),
        ("SUBSCRIBE", "/exchange/conversations/#"),
        ("SUBSCRIBE", "/exchange/amq.fanout"),
        ("SEND", "/exchange/amq.direct/k"),
        ("SUBSCRIBE", "/queue/messages"),
        ("SEND", "/queue/push"),
        ("SUBSCRIBE", "/amq/queue/messages.dead"),
        ("SUBSCRIBE", "/queue/hutch.anything"),
        ("SEND", "/amq/queue/hutch.anything"),
        ("SUBSCRIBE", "/queue/amq.gen-1"),
        ("SUBSCRIBE", "/exchange/{other}.subscribe"),
        ("SEND", "/exchange/{other}.publish/internal"),
        ("SEND", "/exchange/{other}.publish/{cid}.messages"),
        ("SUBSCRIBE", "/exchange/{other}.publish"),
        ("SUBSCRIBE", "/exchange/{me}.publish"),
        ("SEND", "/exchange/{me}.subscribe"),
        ("SUBSCRIBE", "/topic/{other}:news"),
        ("SEND", "/topic/public.news"),
        ("SUBSCRIBE", "/queue/{other}:inbox"),
        ("SUBSCRIBE", "/queue/{me}.smith:inbox"),  # the names of user <me>.smith, not <me>'s
        ("SEND", "/topic/{me}.smith:news"),
        ("SUBSCRIBE", "/reply-queue/hutch.gen-abc"),
        ("SEND", "/reply-queue/{other}.inbox"),
    ],
)
async def test_names_that_are_not_the_users_are_refused(
    guarded: RunningHub, command: str, destination: str
) -> None:
    me, other = fresh("mallory", "alice")
    cid = fresh("c")[0]
    join(guarded, cid, other, fresh("bob")[0])
    client = await WsClient.open(guarded, me)
    headers = {"destination": destination.format(me=me, other=other, cid=cid), "id": "1"}
    error = await refused(client, command, headers, b"{}" if command == "SEND" else b"")
    assert error.headers["message"] == "access refused"
    assert error.body  # says what was refused


@pytest.mark.parametrize("command", ["SEND", "SUBSCRIBE"])
async def test_the_nodes_own_queues_are_out_of_reach(guarded: RunningHub, command: str) -> None:
    for queue in node_queues(guarded):
        for prefix in ("/amq/queue/", "/queue/"):
            client = await WsClient.open(guarded, fresh("mallory")[0])
            error = await refused(client, command, {"destination": prefix + queue, "id": "1"})
            assert error.headers["message"] == "access refused"


async def admin_client(hub: RunningHub) -> WsClient:
    (boss,) = fresh("boss")
    client = await WsClient.open(hub, login=None)
    token = mint_token(boss, SECRET, roles=["admin"])
    await client.send("CONNECT", {"accept-version": "1.2", "host": "h", "login": boss, "passcode": token})
    assert (await client.recv()).command == "CONNECTED"
    return client


@pytest.mark.parametrize(
    ("command", "destination"),
    [
        ("SEND", "/exchange/hutch.control"),
        ("SUBSCRIBE", "/exchange/hutch.control"),
        ("SUBSCRIBE", "/amq/queue/hutch.node.x.streams"),
        ("SUBSCRIBE", "/queue/hutch.durable.x"),
    ],
)
async def test_an_admin_does_not_reach_the_hubs_names_either(
    guarded: RunningHub, command: str, destination: str
) -> None:
    client = await admin_client(guarded)
    error = await refused(client, command, {"destination": destination, "id": "1"})
    assert error.headers["message"] == "access refused"


async def test_an_admin_reaches_rabbitmqs_and_maxs_names(guarded: RunningHub) -> None:
    client = await admin_client(guarded)
    await client.subscribe("/exchange/amq.fanout", "f")
    await client.subscribe("/exchange/activity/#", "a")
    await client.publish("/exchange/amq.fanout", b"to all")
    assert (await client.recv()).body == b"to all"
    await client.close()


async def test_the_users_own_names_work_under_the_default_grants(guarded: RunningHub) -> None:
    (me,) = fresh("ana")
    client = await WsClient.open(guarded, me)
    await client.subscribe(f"/topic/{me}:news", "t")
    await client.subscribe(f"/queue/{me}:inbox", "q")
    await client.publish(f"/topic/{me}:news", b"to my topic")
    await client.publish(f"/queue/{me}:inbox", b"to my queue")
    bodies = {(await client.recv()).body for _ in range(2)}
    assert bodies == {b"to my topic", b"to my queue"}
    await client.close()


def test_durable_queue_names_never_collide_and_are_the_hubs() -> None:
    assert durable_queue_name("a", "b-1") != durable_queue_name("a-b", "1")
    assert durable_queue_name("a.b", "c") != durable_queue_name("a", "b.c")
    assert durable_queue_name("a", "x") == durable_queue_name("a", "x")
    assert durable_queue_name("josé", "1").startswith("hutch.durable.:jos-dma.")
    assert len(durable_queue_name("x" * 64, "y" * 1000)) <= 127


async def test_another_users_durable_subscription_cannot_be_consumed(guarded: RunningHub) -> None:
    alice, mallory = fresh("alice", "mallory")
    owner = await WsClient.open(guarded, alice)
    await owner.subscribe(f"/exchange/{alice}.subscribe", "d1", durable="true", **{"auto-delete": "false"})
    queue = durable_queue_name(alice, "d1")
    for prefix in ("/amq/queue/", "/queue/"):
        thief = await WsClient.open(guarded, mallory)
        error = await refused(thief, "SUBSCRIBE", {"destination": prefix + queue, "id": "1"})
        assert error.headers["message"] == "access refused"
    await owner.send("UNSUBSCRIBE", {"id": "d1", "durable": "true", "receipt": "gone"})
    await owner.receipt("gone")
    await owner.close()


async def test_a_forged_control_event_does_not_open_a_conversation(guarded: RunningHub) -> None:
    """Even if a membership event reached the control exchange, nodes check the store."""
    import json

    from hutch.hub.broker.base import Message

    alice, bob, carol = fresh("alice", "bob", "carol")
    cid = fresh("c")[0]
    join(guarded, cid, alice, bob)
    eavesdropper = await inbox(guarded, carol)
    event = {"event": "member-added", "cid": cid, "user": carol}
    guarded.call(guarded.node.broker.publish("hutch.control", "", Message(json.dumps(event).encode(), {})))
    await asyncio.sleep(0.3)
    sender = await inbox(guarded, alice)
    await sender.publish(f"/exchange/{alice}.publish/{cid}.messages", b'{"text": "private"}')
    assert (await chat(sender)).body == b'{"text": "private"}'
    assert await silent(eavesdropper)

    # A forged removal does not cut a real member off.
    listener = await inbox(guarded, bob)
    event = {"event": "member-removed", "cid": cid, "user": bob}
    guarded.call(guarded.node.broker.publish("hutch.control", "", Message(json.dumps(event).encode(), {})))
    await asyncio.sleep(0.3)
    await sender.publish(f"/exchange/{alice}.publish/{cid}.messages", b'{"text": "still here"}')
    assert (await chat(listener)).body == b'{"text": "still here"}'
    for client in (eavesdropper, sender, listener):
        await client.close()
