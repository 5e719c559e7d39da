"""The echo bot over AMQP against a hub on RabbitMQ, with a WebSocket user chatting to it."""

import asyncio
import contextlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import httpx
import pytest
from backends import AMQP_URL, SECRET
from hub_server import RunningHub, hub_fixture
from hutch.clients.bot.echo import EchoBot
from hutch.clients.python import HutchAPI, HutchClient, Subscription
from hutch.hub.auth import mint_token
from hutch.rules import Form, content_type, encode

hub = hub_fixture("amqp", dev_mode=False, jwt_secret=SECRET)


async def chat_from(stream: Subscription, sender: str, timeout: float = 10.0) -> dict:
    while True:
        data = (await stream.get(timeout)).data()
        if data.get("action") == "add" and data["user"]["username"] == sender:
            return data


async def test_the_echo_bot_answers_and_its_answers_are_stored(hub: RunningHub) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bot_name = f"ana{run}", f"echo{run}"
    bot = EchoBot(bot_name, AMQP_URL, queue_expires=30)
    serving = asyncio.create_task(bot.run())
    try:
        async with HutchAPI(hub.url, mint_token(ana, SECRET)) as api:
            cid = (await api.create_conversation([bot_name]))["id"]
            async with HutchClient(hub.ws_url, ana, mint_token(ana, SECRET)) as client:
                stream = await client.subscribe(f"/exchange/{ana}.subscribe")
                await client.say(cid, "ping")
                answer = await chat_from(stream, bot_name)
                assert answer["data"]["text"] == "echo: ping"
                for _ in range(100):
                    history = await api.messages(cid)
                    if len(history) == 2:
                        break
                    await asyncio.sleep(0.05)
                assert [(m["sender"], m["data"]["text"]) for m in history] == [
                    (ana, "ping"),
                    (bot_name, "echo: ping"),
                ]
    finally:
        await bot.stop()
        serving.cancel()


@dataclass
class BotChat:
    ana: str
    bot: str
    cid: str
    client: HutchClient
    stream: Subscription


@contextlib.asynccontextmanager
async def chat_with_a_bot(hub: RunningHub) -> AsyncIterator[BotChat]:
    """A fresh echo bot, started, in a conversation with a fresh user listening on their stream."""
    run = uuid.uuid4().hex[:6]
    ana, bot_name = f"ana{run}", f"echo{run}"
    bot = EchoBot(bot_name, AMQP_URL, queue_expires=30)
    await bot.start()
    try:
        async with HutchAPI(hub.url, mint_token(ana, SECRET)) as api:
            cid = (await api.create_conversation([bot_name]))["id"]
        async with HutchClient(hub.ws_url, ana, mint_token(ana, SECRET)) as client:
            stream = await client.subscribe(f"/exchange/{ana}.subscribe")
            yield BotChat(ana, bot_name, cid, client, stream)
    finally:
        await bot.stop()


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl next to RabbitMQ")
async def test_the_bot_comes_back_after_its_connection_is_cut(hub: RunningHub) -> None:
    async with chat_with_a_bot(hub) as chat:
        await chat.client.say(chat.cid, "one")
        assert (await chat_from(chat.stream, chat.bot))["data"]["text"] == "echo: one"
        subprocess.run(
            ["rabbitmqctl", "close_all_connections", "cut by the bot test"], check=True, capture_output=True
        )
        async with httpx.AsyncClient() as http:  # the hub reconnects too
            for _ in range(100):
                if (await http.get(f"{hub.url}/health")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        await chat.client.say(chat.cid, "two")
        assert (await chat_from(chat.stream, chat.bot, timeout=20))["data"]["text"] == "echo: two"


async def test_a_message_delivered_twice_is_answered_once(hub: RunningHub) -> None:
    # What RabbitMQ does after a cut connection when the bot's ack had not reached it.
    async with chat_with_a_bot(hub) as chat, await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        to_bot = await channel.get_exchange(f"{chat.bot}.subscribe")
        for text, copies in (("twice", 2), ("after", 1)):
            message = {"uuid": uuid.uuid4().hex, "user": {"username": chat.ana}, "action": "add",
                       "object": "message", "data": {"text": text}}  # fmt: skip
            body = encode(message, Form.PACKED_MSGPACK, "max@1")
            for _ in range(copies):
                await to_bot.publish(
                    aio_pika.Message(body, content_type=content_type(Form.PACKED_MSGPACK, "max@1")),
                    f"{chat.cid}.messages",
                )
        answers = [(await chat_from(chat.stream, chat.bot))["data"]["text"] for _ in range(2)]
        assert answers == ["echo: twice", "echo: after"]
