"""A backlog bigger than a client's outbox reaches a reader that keeps up: in order, nothing lost."""

import json
from collections.abc import Iterator

import pytest
from backends import BROKERS, hub_settings
from hub_server import RunningHub, WsClient, join, running_hub
from security.helpers import fresh

MIB = 1024 * 1024


@pytest.fixture(scope="module", params=BROKERS)
def tight(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """A hub whose outboxes hold 4 MiB, with room in history for 10,000 messages and one more."""
    settings = {"outbox_max_bytes": 4 * MIB, "max_frame_size": 2 * MIB, "history_limit": 10_001}
    with running_hub(**hub_settings(request.param) | settings | {"permissions_file": None}) as hub:
        yield hub


@pytest.mark.parametrize("ack", ["auto", "client", "client-individual"])
async def test_a_queue_backlog_larger_than_the_outbox_is_read_whole(tight: RunningHub, ack: str) -> None:
    (me,) = fresh("ana")
    queue = f"/queue/{me}:big"
    sender = await WsClient.open(tight, me)
    for number in range(20):
        await sender.publish(queue, b"%02d" % number + b"x" * (MIB - 2))
    await sender.close()

    reader = await WsClient.open(tight, me)
    await reader.subscribe(queue, "big", ack=ack)
    for number in range(20):
        frame = await reader.recv(10)
        assert frame.command == "MESSAGE", frame
        assert frame.body[:2] == b"%02d" % number and len(frame.body) == MIB
        if ack != "auto":
            await reader.send("ACK", {"id": frame.headers["ack"]})
    await reader.send("UNSUBSCRIBE", {"id": "big", "receipt": "done"})
    await reader.receipt("done")
    await reader.close()

    # Nothing is left behind, nothing comes twice.
    again = await WsClient.open(tight, me)
    await again.subscribe(queue, "again")
    with pytest.raises(TimeoutError):
        await again.recv(0.5)
    await again.close()


async def test_recovery_of_ten_thousand_messages_reaches_a_reader_that_keeps_up(tight: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    cid = fresh("c")[0]
    join(tight, cid, ana, bob)
    first, _ = tight.call(tight.node.stores.conversations.append(cid, bob, {"data": {"text": "seen"}}, None))
    text = "y" * 10_000
    for number in range(10_000):
        message = {"uuid": f"{cid}-{number}", "data": {"n": number, "text": text}}
        tight.call(tight.node.stores.conversations.append(cid, bob, message, f"{cid}-{number}"))

    client = await WsClient.open(tight, ana, headers={"x-hutch-form": "json"})
    await client.send(
        "SUBSCRIBE",
        {"id": "mine", "destination": f"/exchange/{ana}.subscribe", "x-since": first, "receipt": "back"},
    )
    for number in range(10_000):
        frame = await client.recv(10)
        assert frame.command == "MESSAGE", frame
        assert frame.headers["x-hutch-replay"] == "true"
        assert json.loads(frame.body)["data"]["n"] == number
    receipt = await client.recv(10)
    assert receipt.command == "RECEIPT" and receipt.headers["receipt-id"] == "back"
    assert receipt.headers["x-replayed"] == "10000" and receipt.headers["x-recovered"] == "true"
    await client.close()
