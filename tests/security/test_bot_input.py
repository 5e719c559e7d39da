"""Bots publish over AMQP straight to their exchange, past every hub check: the worker checks
what it stores, so that a bot cannot poison a conversation's history either."""

import asyncio

import aio_pika
import msgpack
from backends import AMQP_URL, hub_settings
from hub_server import running_hub
from hutch.protocol import names
from hutch.rules import Form, encode
from hutch.rules import content_type as content_type_of
from security.helpers import SECRET, Api, fresh, inbox


async def test_a_bot_cannot_store_what_would_not_read_back() -> None:
    settings = hub_settings("amqp") | {
        "jwt_secret": SECRET,
        "permissions_file": None,
    }
    with running_hub(**settings) as hub:
        ana, bot = fresh("ana", "bot")
        api = Api(hub, ana)
        cid = (await api.call("POST", "/api/conversations", {"participants": [bot]}, status=201))["id"]
        listener = await inbox(hub, ana)  # declares nothing for the bot: the conversation did
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.publish_exchange(bot))
        coded = content_type_of(Form.PACKED_MSGPACK, "max@1")
        for body, content_type in [
            (encode({"data": {"n": float("nan")}}, Form.PACKED_MSGPACK, "max@1"), coded),  # refused
            (msgpack.packb([{"not": "max"}]), coded),  # does not decode: kept as text
            (msgpack.packb({"data": {"n": float("nan")}}), "application/msgpack"),  # not coded: text
            (b'{"data": {"n": NaN}}', "application/json"),
            (b'{"data": ' + b"[" * 3000 + b"]" * 3000 + b"}", "application/json"),
            (b'{"data": {"n": 123456789012345678901234567890}}', "application/json"),
        ]:
            await exchange.publish(aio_pika.Message(body, content_type=content_type), f"{cid}.messages")
        await exchange.publish(aio_pika.Message(b'{"data": {"text": "fine"}}'), f"{cid}.messages")
        for _ in range(100):
            history = await api.call("GET", f"/api/conversations/{cid}/messages")  # never a 500
            if history and history[-1].get("data") == {"text": "fine"}:
                break
            await asyncio.sleep(0.05)
        # All but the coded NaN are kept, as text where they are not a message: each reads back.
        assert len(history) == 6
        assert all(item["sender"] == bot for item in history)
        assert history[4]["data"] == {"n": 1.2345678901234568e29}
        await api.call("GET", "/api/conversations")
        await listener.close()
        await connection.close()
