"""Delivery receipts: the sender learns which devices have each message (written to an
`ack:auto` device, acked by an `ack:client` one), in one batch per sender, not one frame per
recipient; no one else hears of them, and no client can send one."""

import logging
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import aio_pika
import orjson
import pytest
from backends import AMQP_URL, SECRET, hub_settings
from hub_server import RunningHub, WsClient, hub_fixture, running_hub
from hutch.protocol import Frame, names
from hutch.rules import Form, decode
from security.helpers import Api, fresh, refused, signed_in

hub = hub_fixture(dev_mode=False, jwt_secret=SECRET)
PACKED = {"content-type": "application/x-hutch+json; rules=max@1"}


async def say(client: WsClient, user: str, cid: str, text: str, uuid: str) -> None:
    body = f'{{"g": "{uuid}", "a": "a", "o": "m", "d": {{"text": "{text}"}}}}'.encode()
    await client.publish(f"/exchange/{user}.publish/{cid}.messages", body, **PACKED)


async def frames(client: WsClient, wait: float) -> list[tuple[Frame, dict[str, Any]]]:
    """What arrives within `wait` seconds, decoded."""
    found = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await client.recv(left)
        except TimeoutError:
            break
        found.append((frame, decode(frame.body, Form.PACKED_JSON, "max@1")))
    return found


def receipts(found: list[tuple[Frame, dict[str, Any]]]) -> list[list[dict[str, str]]]:
    return [message["data"]["delivered"] for _, message in found if message.get("object") == "receipt"]


async def test_the_sender_sees_written_and_acked_devices_and_no_one_else_does(hub: RunningHub) -> None:
    ana, bob, cy = fresh("ana", "bob", "cy")
    cid = (await Api(hub, ana).call("POST", "/api/conversations", {"participants": [bob, cy]}, status=201))[
        "id"
    ]
    anas, bobs, cys = (
        await signed_in(hub, ana, stream="auto"),
        await signed_in(hub, bob, stream="auto"),
        await signed_in(hub, cy, stream="client"),
    )
    uuid = uuid4().hex  # Redis remembers a sent uuid for a day: a repeat is dropped
    await say(anas, ana, cid, "hello", uuid)

    [[written]] = receipts(await frames(anas, 1.0))
    assert written == {"conversation": cid, "uuid": uuid, "user": bob, "device": written["device"]}
    chat = [frame for frame, message in await frames(cys, 0.5) if message.get("action") == "add"]
    await cys.send("ACK", {"id": chat[0].headers["ack"]})
    [[acked]] = receipts(await frames(anas, 1.0))
    assert (acked["user"], acked["uuid"]) == (cy, uuid) and acked["device"] != written["device"]
    assert receipts(await frames(bobs, 0.5)) == []  # about ana's message: ana's alone
    for client in (anas, bobs, cys):
        await client.close()


async def test_a_message_to_forty_devices_costs_the_sender_one_receipt_frame(hub: RunningHub) -> None:
    ana, *others = fresh("ana", *(f"m{n}x" for n in range(40)))
    cid = (await Api(hub, ana).call("POST", "/api/conversations", {"participants": others}, status=201))["id"]
    devices = [await signed_in(hub, other, stream="auto") for other in others]
    anas = await signed_in(hub, ana, stream="auto")
    await say(anas, ana, cid, "all hands", uuid4().hex)
    batches = receipts(await frames(anas, 1.5))
    assert len(batches) == 1
    assert sorted(item["user"] for item in batches[0]) == sorted(others)
    for client in (anas, *devices):
        await client.close()


async def test_no_client_sends_a_receipt_or_writes_to_another_users_direct_stream(hub: RunningHub) -> None:
    ana, eve = fresh("ana", "eve")
    forged = b'{"a": "delivered", "o": "receipt", "d": {"delivered": []}}'
    for destination in (
        f"/exchange/{names.DIRECT}/{ana}",
        f"/exchange/{names.DIRECT}/{names.EVERYONE_KEY}",
        f"/exchange/{names.RECEIPTS}",
        f"/exchange/{names.RECEIPTS}/{ana}",
    ):
        eves = await signed_in(hub, eve, stream="auto")
        error = await refused(eves, "SEND", {"destination": destination, **PACKED}, forged)
        assert error.headers["message"] == "access refused"
        eves = await signed_in(hub, eve, stream="auto")
        error = await refused(eves, "SUBSCRIBE", {"destination": destination, "id": "spy"})
        assert error.headers["message"] == "access refused"


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[RunningHub, RunningHub]]:
    settings = hub_settings("amqp") | {"dev_mode": False, "jwt_secret": SECRET}
    with running_hub(**settings) as a, running_hub(**settings) as b:
        yield a, b


async def test_receipts_from_every_node_reach_the_senders_devices_on_every_node(
    two_nodes: tuple[RunningHub, RunningHub],
) -> None:
    a, b = two_nodes
    ana, bob, cy = fresh("ana", "bob", "cy")
    cid = (await Api(a, ana).call("POST", "/api/conversations", {"participants": [bob, cy]}, status=201))[
        "id"
    ]
    bob_on_b, cy_on_a = await signed_in(b, bob, stream="auto"), await signed_in(a, cy, stream="auto")
    ana_on_a, ana_on_b = await signed_in(a, ana, stream="auto"), await signed_in(b, ana, stream="auto")
    uuid = uuid4().hex
    await say(ana_on_a, ana, cid, "hello both", uuid)

    for device in (ana_on_a, ana_on_b):  # one batch from each node that delivered
        delivered = [item for batch in receipts(await frames(device, 1.5)) for item in batch]
        assert sorted((item["user"], item["uuid"]) for item in delivered) == sorted([(bob, uuid), (cy, uuid)])
    for other in (bob_on_b, cy_on_a):
        assert receipts(await frames(other, 0.3)) == []
    for client in (bob_on_b, cy_on_a, ana_on_a, ana_on_b):
        await client.close()


async def test_a_batch_the_hub_did_not_publish_or_cannot_read_is_ignored(
    two_nodes: tuple[RunningHub, RunningHub], caplog: pytest.LogCaptureFixture
) -> None:
    """A bot with AMQP access reaches `hutch.receipts`; only RabbitMQ's checked user_id of the
    hub's own login makes a batch count, and a malformed one from it harms nothing: each is
    ignored with a warning, none fails a node's consumer."""
    caplog.set_level(logging.WARNING)
    a, _ = two_nodes
    ana, bob = fresh("ana", "bob")
    cid = (await Api(a, ana).call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    anas, bobs = await signed_in(a, ana, stream="auto"), await signed_in(a, bob, stream="auto")
    item = {"conversation": cid, "uuid": "forged", "user": bob, "device": "d"}
    connection = await aio_pika.connect(AMQP_URL)
    try:
        exchange = await (await connection.channel()).get_exchange(names.RECEIPTS)
        for body, headers, user_id in (
            ({ana: [item]}, {"x-hutch-published-by": a.node.broker.login}, None),  # a header is no login
            ({ana: [item | {"user": 7}]}, {}, a.node.broker.login),
            ({ana: "all of them"}, {}, a.node.broker.login),
            ([item], {}, a.node.broker.login),
        ):
            await exchange.publish(aio_pika.Message(orjson.dumps(body), headers=headers, user_id=user_id), "")
        assert receipts(await frames(anas, 0.8)) == []
        warned = {
            record.getMessage().partition(":")[0] for record in caplog.records if "receipts" in record.name
        }
        assert warned == {
            "ignored delivery receipts not published by the hub",
            f"ignored malformed delivery receipts for {ana}",
            "ignored malformed delivery receipts",
        }
        assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
        uuid = uuid4().hex
        await say(anas, ana, cid, "still counted", uuid)
        [[real]] = receipts(await frames(anas, 1.5))
        assert (real["user"], real["uuid"]) == (bob, uuid)
    finally:
        await connection.close()
        for client in (anas, bobs):
            await client.close()


def test_a_large_batch_goes_in_parts_of_whole_senders_with_nothing_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hutch.hub.core import receipts as module

    monkeypatch.setattr(module, "BATCH_RECEIPTS", 3)
    item = {"conversation": "c", "uuid": "u", "user": "x", "device": "d"}
    batches = {"ana": [item] * 2, "bob": [item] * 2, "cy": [item] * 4, "dee": [item]}
    parts = list(module._parts(batches))
    assert parts == [{"ana": [item] * 2}, {"bob": [item] * 2}, {"cy": [item] * 4}, {"dee": [item]}]
