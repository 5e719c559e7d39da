"""Fan-out, acknowledgements, prefetch, transactions and receipts through raw WebSocket clients."""

import asyncio
import resource
import subprocess
import uuid

import pytest
import websockets
from hub_server import RunningHub, WsClient, running_hub


def topic() -> str:
    return f"/topic/t-{uuid.uuid4().hex[:8]}"


async def fan_out(hub: RunningHub, subscribers: int, messages: int) -> None:
    destination = topic()
    clients: list[WsClient] = []
    for first in range(
        0, subscribers, 100
    ):  # a hundred at a time: each CONNECT has 5 s, even on a loaded machine
        users = range(first, min(first + 100, subscribers))
        clients += await asyncio.gather(*(WsClient.open(hub, f"user{i}") for i in users))
    await asyncio.gather(*(c.subscribe(destination) for c in clients))
    publisher = await WsClient.open(hub, "publisher")
    for number in range(messages):
        await publisher.publish(destination, b"message %d" % number)

    async def received(client: WsClient) -> list[bytes]:
        return [(await client.recv(10)).body for _ in range(messages)]

    expected = [b"message %d" % n for n in range(messages)]
    for got in await asyncio.gather(*(received(c) for c in clients)):
        assert got == expected  # all of them, in order, once each
    await asyncio.gather(*(c.close() for c in [*clients, publisher]))


async def test_fan_out_to_100_subscribers(hub: RunningHub) -> None:
    await fan_out(hub, 100, 20)


async def test_fan_out_to_1000_subscribers_loses_nothing(hub: RunningHub) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    await fan_out(hub, 1000, 5)


def broker_queues(hub: RunningHub) -> set[str]:
    """Every queue the broker holds (on RabbitMQ, of every vhost user: listed, never changed)."""
    if hub.node.broker_kind == "memory":
        return set(hub.node.broker._queues)  # type: ignore[attr-defined]
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "--no-table-headers", "name"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return set(listed.split())


async def test_the_node_uses_one_queue_per_exchange_not_per_subscription(hub: RunningHub) -> None:
    destination = topic()
    clients = [await WsClient.open(hub, f"u{i}") for i in range(20)]
    await clients[0].subscribe(destination, "first")  # the node's amq.topic queue, if not open yet
    before = broker_queues(hub)
    for number, client in enumerate(clients):
        await client.subscribe(destination, f"s{number}")
    new = broker_queues(hub) - before
    mine = [q for q in new if q.startswith(f"hutch.node.{hub.node.settings.node_id}.")]
    assert mine == [], f"20 subscriptions made the node queues {mine}"
    assert len(new) <= 2, new  # other hubs of the test run may open a queue meanwhile, not 20
    await clients[1].publish(destination, b"to all")
    for client in clients:
        frames = [await client.recv() for _ in range(2 if client is clients[0] else 1)]
        assert all(frame.body == b"to all" for frame in frames)
    for client in clients:
        await client.close()


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
async def test_websocket_subprotocol_and_stomp_version(hub: RunningHub, version: str) -> None:
    offered = {
        "1.0": ["v10.stomp"],
        "1.1": ["v10.stomp", "v11.stomp"],
        "1.2": ["v11.stomp", "v12.stomp", "v10.stomp"],
    }
    async with websockets.connect(hub.ws_url, subprotocols=offered[version]) as ws:
        assert ws.subprotocol == f"v{version.replace('.', '')}.stomp"
        client = WsClient(ws)
        await client.send("CONNECT", {"accept-version": version, "host": "127.0.0.1"})
        assert (await client.recv()).headers["version"] == version


async def test_a_body_that_is_not_utf8_goes_out_binary(hub: RunningHub) -> None:
    destination = topic()
    client = await WsClient.open(hub)
    await client.subscribe(destination)
    await client.send_raw(
        b"SEND\ndestination:" + destination.encode() + b"\ncontent-length:3\n\n\xff\x00\xfe\x00"
    )
    frame = await client.recv()
    assert (frame.body, client.binary_messages) == (b"\xff\x00\xfe", 1)
    await client.publish(destination, "texte accentué".encode())
    assert (await client.recv()).body == "texte accentué".encode()
    assert client.binary_messages == 1


@pytest.mark.parametrize("size", [0, 100, 125, 126, 200, 65_535, 65_536, 300_000])
async def test_bodies_of_every_websocket_length_form_arrive_whole(hub: RunningHub, size: int) -> None:
    # A WebSocket frame header carries its length in 7 bits, 16 bits or 64 bits.
    destination = topic()
    client = await WsClient.open(hub)
    await client.subscribe(destination)
    body = bytes(65 + n % 26 for n in range(size))
    await client.publish(destination, body)
    assert (await client.recv()).body == body
    await client.close()


async def test_compressed_websocket_delivers_the_same() -> None:
    with running_hub(ws_compression=True) as hub:
        async with websockets.connect(hub.ws_url, subprotocols=["v12.stomp"]) as ws:
            assert ws.protocol.extensions, "the client offered permessage-deflate and the hub took it"
            client = WsClient(ws)
            await client.send("CONNECT", {"accept-version": "1.2", "host": "127.0.0.1"})
            assert (await client.recv()).command == "CONNECTED"
            destination = topic()
            await client.subscribe(destination)
            for body in (b"short", b"long " * 20_000, "accentu\u00e9".encode()):
                await client.publish(destination, body)
                assert (await client.recv()).body == body


async def test_client_individual_nack_redelivers_and_ack_settles(hub: RunningHub) -> None:
    for destination in (topic(), f"/queue/q-{uuid.uuid4().hex[:8]}"):
        client = await WsClient.open(hub)
        await client.subscribe(destination, ack="client-individual")
        await client.publish(destination, b"one")
        await client.publish(destination, b"two")
        first, second = await client.recv(), await client.recv()
        await client.send("NACK", {"id": first.headers["ack"]})
        again = await client.recv()
        assert (again.body, again.headers["redelivered"]) == (b"one", "true")
        await client.send("ACK", {"id": second.headers["ack"], "receipt": "a1"})
        await client.send("ACK", {"id": again.headers["ack"], "receipt": "a2"})
        assert [(await client.recv()).headers["receipt-id"] for _ in range(2)] == ["a1", "a2"]
        await client.close()


async def test_client_ack_is_cumulative_and_unacked_come_back_on_a_shared_queue(hub: RunningHub) -> None:
    queue = f"/queue/q-{uuid.uuid4().hex[:8]}"
    client = await WsClient.open(hub)
    await client.subscribe(queue, ack="client")
    for body in (b"1", b"2", b"3"):
        await client.publish(queue, body)
    frames = [await client.recv() for _ in range(3)]
    await client.send("ACK", {"id": frames[1].headers["ack"], "receipt": "r"})
    assert (await client.recv()).command == "RECEIPT"
    await client.close()
    other = await WsClient.open(hub, "bob")
    await other.subscribe(queue, ack="auto")
    back = await other.recv()
    assert (back.body, back.headers["redelivered"]) == (b"3", "true")
    await other.close()


async def test_prefetch_count_limits_unacked_messages(hub: RunningHub) -> None:
    for destination in (topic(), f"/queue/q-{uuid.uuid4().hex[:8]}"):
        client = await WsClient.open(hub)
        await client.subscribe(destination, ack="client-individual", **{"prefetch-count": "2"})
        for number in range(4):
            await client.publish(destination, b"%d" % number)
        first, second = await client.recv(), await client.recv()
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.3)
        await client.send("ACK", {"id": first.headers["ack"]})
        assert (await client.recv()).body == b"2"
        await client.send("ACK", {"id": second.headers["ack"]})
        assert (await client.recv()).body == b"3"
        await client.close()


async def test_transaction_commit_delivers_abort_and_disconnect_drop(hub: RunningHub) -> None:
    destination = topic()
    listener = await WsClient.open(hub, "listener")
    await listener.subscribe(destination)
    client = await WsClient.open(hub)
    await client.send("BEGIN", {"transaction": "t1"})
    await client.send("SEND", {"destination": destination, "transaction": "t1"}, b"in t1")
    await client.send("BEGIN", {"transaction": "t2"})
    await client.send("SEND", {"destination": destination, "transaction": "t2"}, b"aborted")
    await client.send("ABORT", {"transaction": "t2"})
    with pytest.raises(TimeoutError):
        await listener.recv(timeout=0.3)
    await client.send("COMMIT", {"transaction": "t1", "receipt": "c"})
    assert (await client.recv()).headers["receipt-id"] == "c"
    assert (await listener.recv()).body == b"in t1"

    await client.send("BEGIN", {"transaction": "t3"})
    await client.send("SEND", {"destination": destination, "transaction": "t3"}, b"never")
    await client.send("DISCONNECT", {"receipt": "bye"})
    assert (await client.recv()).headers["receipt-id"] == "bye"
    with pytest.raises(TimeoutError):
        await listener.recv(timeout=0.3)
    await listener.close()


async def test_disconnect_receipt_arrives_before_the_close(hub: RunningHub) -> None:
    client = await WsClient.open(hub)
    await client.send("DISCONNECT", {"receipt": "bye"})
    frame = await client.recv()
    assert (frame.command, frame.headers["receipt-id"]) == ("RECEIPT", "bye")
    await asyncio.wait_for(client.ws.wait_closed(), 5)


async def test_receipts_follow_the_order_of_frames(hub: RunningHub) -> None:
    destination = topic()
    client = await WsClient.open(hub)
    await client.send("SUBSCRIBE", {"id": "1", "destination": destination, "receipt": "r1"})
    await client.send("SEND", {"destination": destination, "receipt": "r2"}, b"x")
    await client.send("SEND", {"destination": destination, "receipt": "r3"}, b"y")
    seen = [await client.recv() for _ in range(5)]
    receipts = [f.headers["receipt-id"] for f in seen if f.command == "RECEIPT"]
    assert receipts == ["r1", "r2", "r3"]
    assert [f.body for f in seen if f.command == "MESSAGE"] == [b"x", b"y"]
    assert seen[0].headers.get("receipt-id") == "r1"  # nothing is delivered before the subscription is
    await client.send("UNSUBSCRIBE", {"id": "1", "receipt": "r4"})
    assert (await client.recv()).headers["receipt-id"] == "r4"
    await client.close()


async def test_stomp_path_serves_the_same(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url.replace("/ws", "/stomp"), subprotocols=["v12.stomp"]) as ws:
        client = WsClient(ws)
        await client.send(
            "CONNECT", {"accept-version": "1.2", "host": "/", "login": "max:alice", "passcode": "t"}
        )
        assert (await client.recv()).command == "CONNECTED"
        destination = topic()
        await client.subscribe(destination)
        await client.publish(destination, b"via /stomp")
        assert (await client.recv()).body == b"via /stomp"
