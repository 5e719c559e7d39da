"""Every per-connection resource and every embedded queue has a bound, and a clear ERROR past it."""

from collections.abc import Iterator

import pytest
from backends import BROKERS, hub_settings
from hub_server import RunningHub, WsClient, running_hub
from security.helpers import fresh, refused


@pytest.fixture(scope="module", params=BROKERS)
def small(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub with small limits, so that reaching them is quick."""
    limits = {
        "max_transaction_frames": 5,
        "max_transaction_bytes": 1000,
        "max_transactions": 3,
        "max_subscriptions": 4,
        "max_queues_per_user": 10,
        "permissions_file": None,
    }
    with running_hub(**hub_settings(request.param) | limits) as hub:
        yield hub


async def test_a_transaction_holds_a_bounded_number_of_frames(small: RunningHub) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    await client.send("BEGIN", {"transaction": "t", "receipt": "b"})
    await client.receipt("b")
    for number in range(5):  # their receipts would come at the commit
        await client.send(
            "SEND", {"destination": f"/topic/{me}:x", "transaction": "t", "receipt": f"s{number}"}
        )
    error = await refused(client, "SEND", {"destination": f"/topic/{me}:x", "transaction": "t"})
    assert error.headers["message"] == "transaction too large"


async def test_open_transactions_hold_a_bounded_number_of_bytes(small: RunningHub) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    for name in ("t1", "t2"):
        await client.send("BEGIN", {"transaction": name})
    await client.send("SEND", {"destination": f"/topic/{me}:x", "transaction": "t1"}, b"x" * 600)
    error = await refused(client, "SEND", {"destination": f"/topic/{me}:x", "transaction": "t2"}, b"x" * 600)
    assert error.headers["message"] == "transaction too large"


async def test_committed_bytes_are_counted_no_more(small: RunningHub) -> None:
    (me,) = fresh("ana")
    client = await WsClient.open(small, me)
    for round in range(3):
        await client.send("BEGIN", {"transaction": f"t{round}"})
        await client.send("SEND", {"destination": f"/topic/{me}:x", "transaction": f"t{round}"}, b"x" * 600)
        await client.send("COMMIT", {"transaction": f"t{round}", "receipt": f"c{round}"})
        await client.receipt(f"c{round}")
    await client.close()


async def test_open_transactions_and_subscriptions_are_bounded(small: RunningHub) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    for name in ("t1", "t2", "t3"):
        await client.send("BEGIN", {"transaction": name})
    error = await refused(client, "BEGIN", {"transaction": "t4"})
    assert error.headers["message"] == "too many transactions"

    client = await WsClient.open(small, me)
    for number in range(4):
        await client.subscribe(f"/topic/{me}:{number}", str(number))
    error = await refused(client, "SUBSCRIBE", {"destination": f"/topic/{me}:x", "id": "x"})
    assert error.headers["message"] == "too many subscriptions"


@pytest.fixture(scope="module")
def embedded() -> Iterator[RunningHub]:
    """The embedded broker with short queues (RabbitMQ bounds its queues by policy: README)."""
    with running_hub(max_queue_length=5, max_queue_bytes=2000, permissions_file=None) as hub:
        yield hub


async def test_an_embedded_queue_rejects_past_its_length(embedded: RunningHub) -> None:
    small = embedded
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    for number in range(5):
        await client.publish(f"/queue/{me}:q", b"%d" % number)
    error = await refused(client, "SEND", {"destination": f"/queue/{me}:q"}, b"one too many")
    assert error.headers["message"] == "queue full"
    reader = await WsClient.open(small, me)
    await reader.subscribe(f"/queue/{me}:q")
    assert [(await reader.recv()).body for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
    await reader.publish(f"/queue/{me}:q", b"room again")
    assert (await reader.recv()).body == b"room again"


async def test_an_embedded_queue_rejects_past_its_bytes(embedded: RunningHub) -> None:
    small = embedded
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    await client.publish(f"/queue/{me}:q", b"x" * 1500)
    error = await refused(client, "SEND", {"destination": f"/queue/{me}:q"}, b"x" * 600)
    assert error.headers["message"] == "queue full"


async def test_a_websocket_message_past_the_limit_gets_frame_too_large(small: RunningHub) -> None:
    client = await WsClient.open(small, fresh("mallory")[0])
    limit = small.node.settings.max_frame_size
    await client.send_raw(b"SEND\ndestination:/topic/x\n\n" + b"x" * (limit + 4096) + b"\x00")
    error = await client.error_then_close()
    assert error.headers["message"] == "frame too large"


async def test_a_node_declares_a_bounded_number_of_queues(small: RunningHub) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(small, me)
    for number in range(40):
        await client.send("SEND", {"destination": f"/queue/{me}:q{number}", "receipt": f"r{number}"})
        frame = await client.recv()
        if frame.command == "ERROR":
            assert frame.headers["message"] == "too many queues"
            break
        assert frame.headers["receipt-id"] == f"r{number}"
    else:
        raise AssertionError("40 queues declared past a limit of 10 a user")
    (ana,) = fresh("ana")
    other = await WsClient.open(small, ana)  # others, and the node itself, go on
    await other.subscribe(f"/queue/{ana}:q", "q")
    await other.subscribe(f"/topic/{ana}:x")
    await other.publish(f"/topic/{ana}:x", b"still served")
    assert (await other.recv()).body == b"still served"
    await other.close()
