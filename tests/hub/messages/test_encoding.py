"""Each client receives coded messages in the form it asked for; conversions happen once per form."""

import asyncio
import json
import uuid

import aio_pika
import hutch.hub.messages.encoding
import msgpack
import pytest
from backends import AMQP_URL, hub_settings
from hub_server import RunningHub, WsClient, join
from hutch.rules import Form, codec_for, decode, encode


def fresh_message(sender: str) -> dict:
    """The envelope with a uuid of its own (the hub delivers a uuid once a day), sent by
    `sender` (the hub stamps the sender's name on it, whatever it says)."""
    return {**MESSAGE, "uuid": uuid.uuid4().hex, "user": {"username": sender, "displayname": "Ana"}}


MESSAGE = {
    "uuid": "6f1a0c2e9b3d4f5a8c7e1d2b3a4f5e6d", "user": {"username": "ana", "displayname": "Ana"}, "action": "add",
    "object": "message", "data": {"text": "olá"}, "source": "widget", "domain": "demo", "published": "2026-11-22T10:00:00Z",
}  # fmt: skip


async def device(hub: RunningHub, user: str, form: str | None) -> WsClient:
    client = await WsClient.open(hub, user, headers={"x-hutch-form": form} if form else None)
    await client.subscribe(f"/exchange/{user}.subscribe")
    return client


async def test_each_client_receives_its_own_form(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:6]
    users = [f"ana{run}", f"browser{run}", f"bot{run}", f"human{run}"]
    message = fresh_message(users[0])
    cid = f"c{run}"
    join(hub, cid, *users)
    sender = await device(hub, users[0], None)
    browser = await device(hub, users[1], "packed-json")
    bot = await device(hub, users[2], "packed-msgpack")
    human = await device(hub, users[3], "json")
    bot_twin = await device(hub, users[2], "packed-msgpack")

    conversions: list[tuple[Form, Form]] = []
    real_convert = hutch.hub.messages.encoding.convert

    wire = encode(message, Form.PACKED_MSGPACK, "max@1")

    def counting(body: bytes, source: Form, target: Form, label: str) -> bytes:
        if body == wire:  # this message; not the "stored" acks the worker sends after it
            conversions.append((source, target))
        return real_convert(body, source, target, label)

    monkeypatch.setattr(hutch.hub.messages.encoding, "convert", counting)
    body = encode(message, Form.PACKED_JSON, "max@1")
    await sender.publish(
        f"/exchange/{users[0]}.publish/{cid}.messages",
        body,
        **{"content-type": "application/x-hutch+json; rules=max@1"},
    )

    as_json = await browser.recv()
    assert as_json.headers["content-type"] == "application/x-hutch+json; rules=max@1"
    assert json.loads(as_json.body) == codec_for("max@1").pack(message)
    assert browser.binary_messages == 0

    for client in (bot, bot_twin):
        as_msgpack = await client.recv()
        assert as_msgpack.headers["content-type"] == "application/x-hutch+msgpack; rules=max@1"
        assert decode(as_msgpack.body, Form.PACKED_MSGPACK, "max@1") == message
        assert client.binary_messages == 1

    expanded = await human.recv()
    assert expanded.headers["content-type"] == "application/json; rules=max@1"
    assert json.loads(expanded.body) == message

    # one conversion per form, not per recipient (5 recipients here, 2 forms besides the wire's)
    assert len(conversions) == 2, conversions
    assert set(conversions) == {(Form.PACKED_MSGPACK, Form.PACKED_JSON), (Form.PACKED_MSGPACK, Form.JSON)}
    for client in (sender, browser, bot, human, bot_twin):
        await client.close()


async def test_a_queue_reader_receives_its_own_form_too(hub: RunningHub) -> None:
    ana = f"ana{uuid.uuid4().hex[:6]}"
    message, queue = fresh_message(ana), f"/queue/forms{uuid.uuid4().hex[:6]}"
    human = await WsClient.open(hub, f"human{uuid.uuid4().hex[:6]}", headers={"x-hutch-form": "json"})
    await human.subscribe(queue)
    sender = await WsClient.open(hub, ana)
    body = encode(message, Form.PACKED_JSON, "max@1")
    await sender.publish(queue, body, **{"content-type": "application/x-hutch+json; rules=max@1"})
    expanded = await human.recv()
    assert expanded.headers["content-type"] == "application/json; rules=max@1"
    assert json.loads(expanded.body) == message
    for client in (sender, human):
        await client.close()


async def test_a_send_that_does_not_decode_is_refused_by_name(hub: RunningHub) -> None:
    client = await WsClient.open(hub, "ana")
    await client.send(
        "SEND",
        {"destination": "/topic/forms", "content-type": "application/x-hutch+json; rules=max@1"},
        b'{"a": "no such code"}',
    )
    error = await client.error_then_close()
    assert error.headers["message"] == "bad message"
    assert b"not a code of action" in error.body


async def test_an_unknown_form_at_connect_is_refused(hub: RunningHub) -> None:
    client = await WsClient.open(hub, login=None)
    await client.send("CONNECT", {"accept-version": "1.2", "login": "ana", "x-hutch-form": "xml"})
    assert (await client.error_then_close()).headers["message"] == "bad x-hutch-form"


async def test_amqp_bodies_are_packed_msgpack() -> None:
    from hub_server import running_hub

    with running_hub(**hub_settings("amqp")) as hub:
        run = uuid.uuid4().hex[:6]
        ana, bot, cid = f"ana{run}", f"bot{run}", f"c{run}"
        join(hub, cid, ana, bot)
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(f"{bot}.subscribe")
        message = fresh_message(ana)
        sender = await WsClient.open(hub, ana)
        await sender.publish(
            f"/exchange/{ana}.publish/{cid}.messages",
            json.dumps(message).encode(),
            **{"content-type": "application/json; rules=max@1"},
        )
        incoming = None
        for _ in range(100):  # basic.get does not wait: poll until the message is there
            if (incoming := await queue.get(fail=False)) is not None:
                break
            await asyncio.sleep(0.05)
        assert incoming is not None
        assert incoming.content_type == "application/x-hutch+msgpack; rules=max@1"
        assert isinstance(msgpack.unpackb(incoming.body), list)
        assert decode(incoming.body, Form.PACKED_MSGPACK, "max@1") == message
        await connection.close()
        await sender.close()


async def test_a_client_that_named_its_rule_set_may_leave_it_off(hub: RunningHub) -> None:
    client = await WsClient.open(hub, "ana", headers={"x-hutch-rules": "max@1", "x-hutch-form": "json"})
    destination = f"/topic/rules-{uuid.uuid4().hex[:6]}"
    await client.subscribe(destination)
    await client.publish(destination, json.dumps(MESSAGE).encode(), **{"content-type": "application/json"})
    frame = await client.recv()
    assert frame.headers["content-type"] == "application/json; rules=max@1"
    assert json.loads(frame.body) == MESSAGE

    other = await WsClient.open(hub, login=None)
    await other.send("CONNECT", {"accept-version": "1.2", "login": "ana", "x-hutch-rules": "max@7"})
    assert (await other.error_then_close()).headers["message"] == "bad x-hutch-rules"
