"""hutch on the nodes of a RabbitMQ cluster: it connects to the first node that answers, keeps
its work queues as quorum queues (HUTCH_AMQP_QUORUM), and when a RabbitMQ node stops under chat
traffic its hub nodes move to the others: every receipted message is stored and delivered once,
and /health says where each hub node went."""

import asyncio
import time

import httpx
import pytest
from backends import AMQP_URL, SECRET
from chat_traffic import say_until_receipted
from hub_nodes import nodes
from hub_server import free_port
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.broker.amqp_nodes import censored
from hutch.hub.broker.errors import BrokerUnavailable
from private_rabbitmq import PrivateRabbitMQ, rabbitmq_cluster
from security.helpers import fresh


async def test_the_broker_connects_to_the_first_node_that_answers() -> None:
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    broker = AmqpBroker(f"{nowhere}, {AMQP_URL}")
    await broker.start()
    try:
        assert broker.is_up
        status = broker.status()
        assert status["rabbitmq"] == censored(AMQP_URL) and status["rabbitmq_nodes"] == 2
        assert [move["left"] for move in status["rabbitmq_moves"]] == [None]
    finally:
        await broker.close()


async def test_no_node_answering_is_a_clear_error_without_passwords() -> None:
    nowhere = [f"amqp://guest:s3cret@127.0.0.1:{free_port()}/" for _ in range(2)]
    with pytest.raises(BrokerUnavailable) as refused:
        await AmqpBroker(nowhere).start()
    assert all(censored(url) in str(refused.value) for url in nowhere)
    assert "s3cret" not in str(refused.value)


def test_a_stopped_rabbitmq_node_loses_no_receipted_message() -> None:
    with rabbitmq_cluster(3) as rabbits:
        cluster = ",".join(rabbit.url for rabbit in rabbits)
        with nodes(2, HUTCH_AMQP_URL=cluster, HUTCH_AMQP_QUORUM="true") as [(_, port_a), (_, port_b)]:
            queues = queue_types(rabbits[1])
            node_queues = {flags for name, flags in queues.items() if name.startswith("hutch.node.")}
            assert node_queues == {("classic", "false")}  # they go with their RabbitMQ node
            work_queues = {
                name: flags for name, flags in queues.items() if not name.startswith("hutch.node.")
            }
            assert {"messages", "messages.dead", "hutch.websub", "hutch.sends"} <= set(work_queues)
            assert set(work_queues.values()) == {("quorum", "true")}
            asyncio.run(chat_while_a_node_stops(rabbits, port_a, port_b))


def queue_types(rabbit: PrivateRabbitMQ) -> dict[str, tuple[str, str]]:
    listed = rabbit.ctl("list_queues", "name", "type", "durable", "--quiet", "--no-table-headers")
    return {
        name: (kind, durable) for name, kind, durable in (line.split("\t") for line in listed.splitlines())
    }


async def chat_while_a_node_stops(rabbits: list[PrivateRabbitMQ], port_a: int, port_b: int) -> None:
    ana, bob = fresh("ana", "bob")
    url_a, url_b = f"ws://127.0.0.1:{port_a}/ws", f"ws://127.0.0.1:{port_b}/ws"
    async with HutchAPI(f"http://127.0.0.1:{port_b}", mint(bob)) as bobs_api:
        cid = (await bobs_api.create_conversation([ana]))["id"]
    heard: list[str] = []
    anas = HutchClient([url_a, url_b], ana, mint(ana), backoff=(0.1, 0.5))
    bobs = HutchClient([url_b, url_a], bob, mint(bob), backoff=(0.1, 0.5))
    async with anas, bobs:
        stream = await bobs.subscribe(f"/exchange/{bob}.subscribe", recover=True)

        async def listen() -> None:
            async for message in stream:
                data = message.data()
                if isinstance(data, dict) and data.get("action") == "add":
                    heard.append(data["data"]["text"])

        listening = asyncio.create_task(listen())
        sent = [f"m{n}" for n in range(60)]
        stopping = None
        for n, text in enumerate(sent):
            await say_until_receipted(anas, ana, cid, text)
            if n == 20:  # the node both hub nodes are on
                stopping = asyncio.create_task(asyncio.to_thread(rabbits[0].ctl, "stop"))
            await asyncio.sleep(0.02)
        assert stopping is not None
        await stopping
        deadline = time.monotonic() + 30
        while len(heard) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # anything more would be a duplicate
        listening.cancel()
        async with HutchAPI(f"http://127.0.0.1:{port_b}", mint(bob)) as bobs_api:
            history = [m["data"]["text"] for m in await bobs_api.messages(cid, limit=100)]
        assert history == sent  # each stored once
        assert heard == sent  # and delivered once

    stopped = censored(rabbits[0].url)
    for port in (port_a, port_b):
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["status"] == "ok"
        assert health["rabbitmq"] != stopped
        assert health["rabbitmq_moves"][-1]["left"] == stopped


def mint(user: str) -> str:
    return mint_token(user, SECRET)
