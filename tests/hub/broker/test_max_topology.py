"""The MAX exchanges through STOMP: per-user exchanges, conversations, members, several nodes, bots."""

import asyncio
import uuid

import aio_pika
import pytest
from backends import AMQP_URL, hub_settings
from hub_server import RunningHub, WsClient, join, running_hub
from hutch.hub.auth import Identity


def names(*people: str) -> tuple[str, ...]:
    run = uuid.uuid4().hex[:6]
    return tuple(f"{p}{run}" for p in people)


def add_members(hub: RunningHub, cid: str, *users: str) -> None:
    join(hub, cid, *users)


async def inbox(hub: RunningHub, user: str) -> WsClient:
    """A device of `user`, subscribed to its own stream as MAX clients do."""
    client = await WsClient.open(hub, user)
    await client.subscribe(f"/exchange/{user}.subscribe")
    return client


def is_chat(frame) -> bool:
    """Not one of the notifications (the worker's "stored" acks) that follow chat messages."""
    return not frame.headers.get("destination", "").endswith(".notifications")


async def next_chat(client: WsClient, timeout: float = 5.0):
    while not is_chat(frame := await client.recv(timeout)):
        pass
    return frame


async def nothing_for(client: WsClient, wait: float = 0.4) -> None:
    """Fails if a chat message arrives within `wait` seconds."""
    try:
        frame = await next_chat(client, wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected {frame}")


async def test_members_chat_and_see_their_own_messages_on_other_devices(hub: RunningHub) -> None:
    alice, bob, carol = names("alice", "bob", "carol")
    cid = f"c{uuid.uuid4().hex[:8]}"
    add_members(hub, cid, alice, bob)
    alice_phone, alice_laptop, bob_phone = (
        await inbox(hub, alice),
        await inbox(hub, alice),
        await inbox(hub, bob),
    )
    carol_phone = await inbox(hub, carol)

    await alice_phone.publish(f"/exchange/{alice}.publish/{cid}.messages", b'{"text": "hi bob"}')
    for device in (alice_phone, alice_laptop, bob_phone):
        message = await next_chat(device)
        assert message.body == b'{"text": "hi bob"}'
        assert message.headers["destination"] == f"/exchange/{alice}.publish/{cid}.messages"
    await nothing_for(carol_phone)

    # A non-member is refused, and the routing would not have carried it anyway.
    await carol_phone.send("SEND", {"destination": f"/exchange/{carol}.publish/{cid}.messages"}, b"let me in")
    assert (await carol_phone.error_then_close()).headers["message"] == "access refused"
    await nothing_for(bob_phone)

    # Removed, bob receives nothing more.
    hub.call(hub.node.conversations.remove_member(Identity(alice, roles=frozenset({"admin"})), cid, bob))
    await alice_phone.publish(f"/exchange/{alice}.publish/{cid}.messages", b"bob left")
    assert (await next_chat(alice_laptop)).body == b"bob left"
    await nothing_for(bob_phone)
    for client in (alice_phone, alice_laptop, bob_phone):
        await client.close()


async def test_internal_key_reaches_only_ones_own_devices(hub: RunningHub) -> None:
    (dave,) = names("dave")
    phone, laptop = await inbox(hub, dave), await inbox(hub, dave)
    await phone.publish(f"/exchange/{dave}.publish/internal", b"sync")
    assert (await next_chat(laptop)).body == b"sync"
    assert (await next_chat(phone)).body == b"sync"
    await phone.close()
    await laptop.close()


@pytest.fixture(scope="module")
def two_nodes():
    with running_hub(**hub_settings("amqp")) as a, running_hub(**hub_settings("amqp")) as b:
        assert a.node.settings.node_id != b.node.settings.node_id
        yield a, b


async def test_two_nodes_share_conversations(two_nodes: tuple[RunningHub, RunningHub]) -> None:
    node_a, node_b = two_nodes
    alice, bob = names("alice", "bob")
    cid = f"c{uuid.uuid4().hex[:8]}"
    add_members(node_a, cid, alice, bob)
    alice_on_a = await inbox(node_a, alice)
    bob_on_b = await inbox(node_b, bob)
    bob_on_a = await inbox(node_a, bob)  # bob has a device on each node

    await alice_on_a.publish(f"/exchange/{alice}.publish/{cid}.messages", b"across nodes")
    await bob_on_b.publish(f"/exchange/{bob}.publish/{cid}.messages", b"and back")
    for device in (alice_on_a, bob_on_b, bob_on_a):
        got = [(await next_chat(device)).body for _ in range(2)]
        assert sorted(got) == [b"across nodes", b"and back"]
        await nothing_for(device, 0.2)
    for client in (alice_on_a, bob_on_b, bob_on_a):
        await client.close()


async def test_a_bot_over_amqp_talks_with_browsers(two_nodes: tuple[RunningHub, RunningHub]) -> None:
    node_a, _ = two_nodes
    bot, alice = names("bot", "alice")
    cid = f"c{uuid.uuid4().hex[:8]}"
    add_members(node_a, cid, bot, alice)
    browser = await inbox(node_a, alice)

    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    heard: asyncio.Queue[bytes] = asyncio.Queue()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(f"{bot}.subscribe")

    async def hear(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if (message.routing_key or "").endswith(".messages"):  # not the worker's "stored" acks
            heard.put_nowait(message.body)

    await queue.consume(hear, no_ack=True)

    publish = await channel.get_exchange(f"{bot}.publish")
    await publish.publish(
        aio_pika.Message(b"beep from the bot", content_type="text/plain"), f"{cid}.messages"
    )
    message = await next_chat(browser)
    assert (message.body, message.headers["content-type"]) == (b"beep from the bot", "text/plain")

    await browser.publish(f"/exchange/{alice}.publish/{cid}.messages", b"hello bot")
    bodies = {await asyncio.wait_for(heard.get(), 5) for _ in range(2)}
    assert bodies == {b"beep from the bot", b"hello bot"}  # the bot hears its own too, as every member
    await connection.close()
    await browser.close()
