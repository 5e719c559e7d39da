"""A hub node killed (SIGKILL) under traffic: its clients, given every node's URL, move to the
other node and recover there what they missed, nothing lost and nothing twice; the presence of
devices that were on the dead node ends when its lease does."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from backends import AMQP_URL, REDIS_URL, SECRET
from hub_server import free_port
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from security.helpers import fresh

PRESENCE_TTL = 2


@contextmanager
def nodes(count: int) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    """`hutch serve` processes on RabbitMQ and Redis, each with a worker (one stores at a time)."""
    env = os.environ | {
        "HUTCH_JWT_SECRET": SECRET,
        "HUTCH_DEV_MODE": "0",
        "HUTCH_WORKER": "true",
        "HUTCH_PRESENCE_TTL": str(PRESENCE_TTL),
        "HUTCH_AMQP_URL": AMQP_URL,
        "HUTCH_REDIS_URL": REDIS_URL,
    }
    hutch = Path(sys.executable).with_name("hutch")
    started = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [str(hutch), "serve", "--port", str(port), "--log-level", "warning"], env=env
        )
        started.append((process, port))
    try:
        for _, port in started:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
                process.wait(15)


def test_a_killed_nodes_clients_recover_on_another_node() -> None:
    with nodes(2) as [(doomed, port_a), (_, port_b)]:
        asyncio.run(scenario(doomed, port_a, port_b))


async def scenario(doomed: subprocess.Popen[bytes], port_a: int, port_b: int) -> None:
    ana, bob, cy = fresh("ana", "bob", "cy")
    url_a, url_b = f"ws://127.0.0.1:{port_a}/ws", f"ws://127.0.0.1:{port_b}/ws"
    async with HutchAPI(f"http://127.0.0.1:{port_b}", mint_token(bob, SECRET)) as bobs_api:
        cid = (await bobs_api.create_conversation([ana]))["id"]
    heard: list[str] = []
    anas = HutchClient([url_a, url_b], ana, mint_token(ana, SECRET), backoff=(0.1, 0.5))
    cys = HutchClient(url_a, cy, mint_token(cy, SECRET), reconnect=False)
    async with anas, cys, HutchClient(url_b, bob, mint_token(bob, SECRET)) as bobs:
        stream = await anas.subscribe(f"/exchange/{ana}.subscribe", recover=True)
        assert anas.url == url_a
        await cys.subscribe(f"/exchange/{cy}.subscribe")

        async def listen() -> None:
            async for message in stream:
                data = message.data()
                if isinstance(data, dict) and data.get("action") == "add":
                    heard.append(data["data"]["text"])

        listening = asyncio.create_task(listen())
        sent = [f"m{n}" for n in range(60)]
        for n, text in enumerate(sent):
            await bobs.say(cid, text)
            if n == 20:
                doomed.send_signal(signal.SIGKILL)  # ana's node, mid-conversation
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 30
        while len(heard) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # anything more would be a duplicate
        listening.cancel()
        assert heard == sent
        assert anas.url == url_b and anas.connections == 2

        async with HutchAPI(f"http://127.0.0.1:{port_b}", mint_token(bob, SECRET)) as api:
            deadline = time.monotonic() + PRESENCE_TTL + 5
            while (await api.presence([cy]))[cy]["online"] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert not (await api.presence([cy]))[cy]["online"]  # cy's device was on the dead node
            assert (await api.presence([ana]))[ana]["online"]  # ana's moved
