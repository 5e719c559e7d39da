"""A hub node killed (SIGKILL) under traffic: its clients, given every node's URL, move to the
other node and recover there what they missed, nothing lost and nothing twice; the presence of
devices that were on the dead node ends when its lease does."""

import asyncio
import signal
import subprocess
import time

from backends import SECRET
from hub_nodes import PRESENCE_TTL, nodes
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from security.helpers import fresh


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
