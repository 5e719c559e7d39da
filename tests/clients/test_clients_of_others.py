"""Clients hutch did not write, unchanged: stomp.py over WebSocket and TCP and a plain aio-pika
bot chat in one conversation on a hub over RabbitMQ. (@stomp/stompjs: tests/clients/widget.)"""

import asyncio
import json
import uuid

import aio_pika
from backends import AMQP_URL
from hub_server import RunningHub, hub_fixture, join, stomp_py
from hutch.rules import Form, content_type, decode, encode, parse_content_type

JSON = "application/json; rules=max@1"


hub = hub_fixture("amqp")


def chat(user: str, text: str) -> dict:
    return {
        "uuid": uuid.uuid4().hex,
        "user": {"username": user},
        "action": "add",
        "object": "message",
        "data": {"text": text},
    }


def texts_from(collector, count: int) -> list[tuple[str, str]]:
    """(sender, text) of the next `count` chat messages a stomp.py client got, skipping acks."""
    found = []
    while len(found) < count:
        frame = collector.message(timeout=10)
        # packed JSON, the default form; MAX clients unpack it with the rule set it names
        coded = parse_content_type(frame.headers["content-type"])
        assert coded is not None and coded[0] is Form.PACKED_JSON
        message = decode(frame.body.encode(), *coded)
        if message.get("action") == "add":
            found.append((message["user"]["username"], message["data"]["text"]))
    return found


async def test_stomp_py_over_ws_and_tcp_and_a_plain_aio_pika_bot_chat(hub: RunningHub) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob, bot, cid = f"ana{run}", f"bob{run}", f"bot{run}", f"c{run}"
    join(hub, cid, ana, bob, bot)

    # the bot: a queue of its own bound to <bot>.subscribe, packed msgpack to <bot>.publish
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(f"{bot}.subscribe")
    bot_heard: asyncio.Queue[dict] = asyncio.Queue()

    async def on_message(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with incoming.process():
            form, label = Form.PACKED_MSGPACK, "max@1"
            assert incoming.content_type == content_type(form, label)
            await bot_heard.put(decode(incoming.body, form, label))

    await queue.consume(on_message)

    browser, browser_got = stomp_py(hub, "ws", ana)
    server, server_got = stomp_py(hub, "tcp", bob)
    try:
        for conn, user in ((browser, ana), (server, bob)):
            conn.subscribe(f"/exchange/{user}.subscribe", id="stream", ack="auto", headers={"receipt": "s"})
        assert browser_got.receipt() == "s" and server_got.receipt() == "s"
        browser.send(
            f"/exchange/{ana}.publish/{cid}.messages", json.dumps(chat(ana, "from ws")), content_type=JSON
        )
        assert await asyncio.to_thread(texts_from, server_got, 1) == [(ana, "from ws")]

        heard = await asyncio.wait_for(bot_heard.get(), 10)
        while heard.get("action") != "add":
            heard = await asyncio.wait_for(bot_heard.get(), 10)
        assert heard["data"]["text"] == "from ws"

        exchange = await channel.get_exchange(f"{bot}.publish")
        reply = chat(bot, f"bot heard: {heard['data']['text']}")
        await exchange.publish(
            aio_pika.Message(
                encode(reply, Form.PACKED_MSGPACK, "max@1"),
                content_type=content_type(Form.PACKED_MSGPACK, "max@1"),
            ),
            routing_key=f"{cid}.messages",
        )
        server.send(
            f"/exchange/{bob}.publish/{cid}.messages", json.dumps(chat(bob, "from tcp")), content_type=JSON
        )
        got = await asyncio.to_thread(texts_from, browser_got, 3)
        assert sorted(got) == sorted([(ana, "from ws"), (bot, "bot heard: from ws"), (bob, "from tcp")])
    finally:
        browser.disconnect()
        server.disconnect()
        await connection.close()
