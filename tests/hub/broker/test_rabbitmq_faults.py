"""RabbitMQ restarted under traffic, and what the node costs RabbitMQ in queues.

On a RabbitMQ node of these tests' own (`private_rabbitmq`): the machine's shared one is
never stopped.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from backends import hub_settings
from hub_server import RunningHub, WsClient, join, running_hub
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.base import Message
from hutch.hub.broker.errors import BrokerUnavailable
from private_rabbitmq import PrivateRabbitMQ, private_rabbitmq


@pytest.fixture(scope="module")
def rabbit() -> Iterator[PrivateRabbitMQ]:
    with private_rabbitmq() as node:
        yield node


@pytest.fixture
def hub(rabbit: PrivateRabbitMQ) -> Iterator[RunningHub]:
    settings = hub_settings("amqp") | {"amqp_url": rabbit.url, "amqp_reconnect_interval": 0.5}
    with running_hub(**settings) as running:
        yield running


async def wait_healthy(hub: RunningHub, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while (await http.get(f"{hub.url}/health")).status_code != 200:
            assert time.monotonic() < deadline, "the hub never saw RabbitMQ come back"
            await asyncio.sleep(0.2)


async def connected(hub: RunningHub, user: str) -> WsClient | None:
    """A connection of `user`, or None if the hub refused the CONNECT (with an ERROR)."""
    client = await WsClient.open(hub, login=None)
    await client.send("CONNECT", {"accept-version": "1.2", "host": "h", "login": user, "passcode": "x"})
    if (await client.recv()).command == "CONNECTED":
        return client
    await client.close()
    return None


def memory_alarm(rabbit: PrivateRabbitMQ, on: bool) -> None:
    """RabbitMQ's memory alarm, which blocks every connection that publishes, raised or cleared."""
    rabbit.ctl("set_vm_memory_high_watermark", "0.000001" if on else "0.4")
    deadline = time.monotonic() + 30
    while ("memory" in rabbit.ctl("eval", "rabbit_alarm:get_alarms().")) != on:
        assert time.monotonic() < deadline, "the memory alarm did not change"
        time.sleep(0.2)


async def test_a_publish_rabbitmq_does_not_confirm_in_time_fails_and_the_next_goes_through(
    rabbit: PrivateRabbitMQ,
) -> None:
    """Blocked by a memory alarm, RabbitMQ reads nothing more from the lane, so no confirm comes:
    the publish fails after the timeout (a SEND's ERROR `broker unavailable`), not never."""
    broker = AmqpBroker(rabbit.url, operation_timeout=1.0, reconnect_interval=0.2)
    await broker.connect()
    try:
        await broker.publish("amq.topic", "k", Message(b"before"))
        await asyncio.to_thread(memory_alarm, rabbit, True)
        try:
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match="did not confirm"):
                await broker.publish("amq.topic", "k", Message(b"blocked"))
            assert 0.9 < time.monotonic() - started < 5
        finally:
            await asyncio.to_thread(memory_alarm, rabbit, False)
        await broker.publish("amq.topic", "k", Message(b"after"))  # the lane reads again
    finally:
        await broker.close()


async def test_rabbitmq_restart_under_traffic(hub: RunningHub, rabbit: PrivateRabbitMQ) -> None:
    run = uuid.uuid4().hex[:6]
    alice, bob, cid = f"alice{run}", f"bob{run}", f"c{run}"
    join(hub, cid, alice, bob)
    bob_device = await WsClient.open(hub, bob)
    await bob_device.subscribe(f"/exchange/{bob}.subscribe")
    received: list[bytes] = []

    async def listen() -> None:
        while True:
            received.append((await bob_device.recv(timeout=120)).body)

    listener = asyncio.create_task(listen())
    receipted: list[bytes] = []
    refused: list[str] = []
    destination = f"/exchange/{alice}.publish/{cid}.messages"

    async def publish_until(stop: asyncio.Event) -> None:
        number = 0
        sender = await WsClient.open(hub, alice)
        while not stop.is_set():
            body = b"m%d" % number
            number += 1
            await sender.send("SEND", {"destination": destination, "receipt": body.decode()}, body)
            frame = await sender.recv(timeout=30)
            if frame.command == "RECEIPT":
                receipted.append(body)
                await asyncio.sleep(0.02)
                continue
            refused.append(frame.headers["message"])  # an ERROR ends this connection: open another
            while not stop.is_set():
                again = await connected(hub, alice)
                if again is not None:
                    sender = again
                    break
                await asyncio.sleep(0.2)  # CONNECT refused while RabbitMQ is away

    stop = asyncio.Event()
    publisher = asyncio.create_task(publish_until(stop))
    await asyncio.sleep(1)
    await asyncio.to_thread(rabbit.ctl, "stop_app")
    await asyncio.sleep(1)
    await asyncio.to_thread(rabbit.ctl, "start_app")
    await wait_healthy(hub)
    await asyncio.sleep(1)
    stop.set()
    await publisher

    after = [b"after %d" % n for n in range(20)]
    sender = await WsClient.open(hub, alice)
    for body in after:
        await sender.publish(destination, body)
    deadline = time.monotonic() + 10
    while not set(after) <= set(received) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    listener.cancel()

    assert refused and set(refused) == {"broker unavailable"}  # told, never a false receipt
    assert len(received) == len(set(received)), "a message arrived twice"
    assert [b for b in received if b in after] == after  # everything after the restart, in order
    missing = [b for b in receipted if b not in received]
    assert not missing, f"receipted but never delivered: {missing}"
    assert bob_device.ws.state.name == "OPEN"  # bob's connection lived through it


async def test_a_node_needs_a_few_queues_whatever_its_users_and_connections(
    hub: RunningHub, rabbit: PrivateRabbitMQ
) -> None:
    run = uuid.uuid4().hex[:6]
    users = [f"user{i}x{run}" for i in range(10)]
    for group in range(2):  # two conversations of five
        join(hub, f"c{group}x{run}", *users[group * 5 : group * 5 + 5])
    devices = []
    for user in users:
        for _ in range(3):
            device = await WsClient.open(hub, user)
            await device.subscribe(f"/exchange/{user}.subscribe", "mine")
            await device.subscribe(f"/topic/news.{run}", "news")
            devices.append(device)
    prefix = f"hutch.node.{hub.node.settings.node_id}."
    listed = await asyncio.to_thread(rabbit.ctl, "list_queues", "-q", "--no-table-headers", "name")
    ours = sorted(line.removeprefix(prefix) for line in listed.split() if line.startswith(prefix))
    # Whatever the number of users and devices: one queue for all conversation traffic, one
    # for what users' own devices send each other, one for amq.topic, one for control.
    assert len([q for q in ours if q.startswith("conversations.")]) == 1
    assert "streams" in ours
    assert len(ours) == 4, ours
    sender = devices[0]
    await sender.publish(f"/exchange/{users[0]}.publish/c0x{run}.messages", b"to the five of c0")
    for device in devices[1:15]:  # every device of the five members, the sender's own included
        frame = await device.recv()
        assert frame.body == b"to the five of c0"
    for device in devices[15:]:
        with pytest.raises(TimeoutError):
            await device.recv(timeout=0.05)
    for device in devices:
        await device.close()
