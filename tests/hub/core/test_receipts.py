"""Delivery receipts: the sender learns which devices have each message (written to an
`ack:auto` device, acked by an `ack:client` one), in one batch per sender, not one frame per
recipient; no one else hears of them, and no client can send one."""

import time
from typing import Any
from uuid import uuid4

from backends import SECRET
from hub_server import RunningHub, WsClient, hub_fixture
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
    for destination in (f"/exchange/{names.DIRECT}/{ana}", f"/exchange/{names.DIRECT}/{names.EVERYONE_KEY}"):
        eves = await signed_in(hub, eve, stream="auto")
        error = await refused(eves, "SEND", {"destination": destination, **PACKED}, forged)
        assert error.headers["message"] == "access refused"
        eves = await signed_in(hub, eve, stream="auto")
        error = await refused(eves, "SUBSCRIBE", {"destination": destination, "id": "spy"})
        assert error.headers["message"] == "access refused"
