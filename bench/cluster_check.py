"""Chat at scale across two hub nodes on one RabbitMQ, with a bot and a RabbitMQ restart mid-run.

    python bench/cluster_check.py [--users 500] [--group 5] [--devices 2] [--restart]

Starts two `hutch serve --amqp` nodes, puts USERS users in conversations of GROUP,
opens DEVICES connections per user (spread over both nodes), joins an aio-pika bot
to every conversation, and has everyone publish. With --restart RabbitMQ is
stopped and started in the middle. It then checks that every device got every
receipted message of its conversations exactly once, and counts the AMQP queues
of the nodes while every connection is open.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aio_pika
import httpx
import websockets
from hutch.hub.broker import topology
from hutch.hub.broker.amqp import AmqpBroker
from hutch.hub.conversations.model import Conversation
from hutch.hub.conversations.redis import RedisConversationStore
from hutch.hub.store.redis import connect as connect_redis

from bench import NO_RATE_LIMITS

AMQP = os.environ.get("HUTCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS = os.environ.get("HUTCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def frame(command: str, headers: dict[str, str], body: bytes = b"") -> str:
    lines = [command, *(f"{k}:{v}" for k, v in headers.items())]
    return "\n".join(lines) + "\n\n" + body.decode() + "\x00"


def parse(data: str) -> tuple[str, dict[str, str], str]:
    head, _, body = data.partition("\n\n")
    command, *lines = head.split("\n")
    return command, dict(line.split(":", 1) for line in lines), body.rstrip("\x00")


class Device:
    def __init__(self, user: str, port: int):
        self.user = user
        self.port = port
        self.got: Counter[str] = Counter()

    async def open(self) -> None:
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/ws", subprotocols=["v12.stomp"])
        await self.ws.send(frame("CONNECT", {"accept-version": "1.2", "login": self.user, "passcode": "x"}))
        assert parse(await self.ws.recv())[0] == "CONNECTED"
        await self.ws.send(
            frame("SUBSCRIBE", {"id": "0", "destination": f"/exchange/{self.user}.subscribe", "receipt": "s"})
        )
        assert parse(await self.ws.recv())[0] == "RECEIPT"
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for data in self.ws:
            text = data if isinstance(data, str) else data.decode()
            # Frames written together share a WebSocket message (a message and its stored ack).
            for one in text.split("\x00"):
                if one.strip("\r\n"):
                    command, _, body = parse(one.lstrip("\r\n"))
                    if command == "MESSAGE":
                        self.got[body] += 1


async def connect(user: str, port: int) -> websockets.ClientConnection:
    """A signed-in connection; retried while a node is busy restoring after a broker restart."""
    while True:
        try:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws", subprotocols=["v12.stomp"], open_timeout=30
            )
            await ws.send(frame("CONNECT", {"accept-version": "1.2", "login": user, "passcode": "x"}))
            await ws.recv()
            return ws
        except (TimeoutError, OSError, websockets.ConnectionClosed):
            await asyncio.sleep(0.5)


async def publisher(
    user: str, cid: str, port: int, count: int, receipted: set[str], refused: Counter[str]
) -> None:
    ws = await connect(user, port)
    for n in range(count):
        body = f"{user}:{n}"
        send = frame(
            "SEND",
            {"destination": f"/exchange/{user}.publish/{cid}.messages", "receipt": body},
            body.encode(),
        )
        try:
            await ws.send(send)
            command, headers, detail = parse(await ws.recv())
        except websockets.ConnectionClosed:
            command, headers, detail = "CLOSED", {"message": "connection closed"}, ""
        if command == "RECEIPT":
            receipted.add(body)
        else:
            reason = headers.get("message", "?")
            refused[reason] += 1
            if refused[reason] == 1:
                print(f"first '{reason}': {detail}")
            await ws.close()
            ws = await connect(user, port)
        await asyncio.sleep(0.05)
    await ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--group", type=int, default=5)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--messages", type=int, default=20, help="per user")
    parser.add_argument("--restart", action="store_true")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    run = uuid.uuid4().hex[:6]
    users = [f"u{i}r{run}" for i in range(args.users)]
    conversations = {
        f"c{i}r{run}": users[i * args.group : (i + 1) * args.group] for i in range(args.users // args.group)
    }
    bot = f"bot{run}"
    broker = AmqpBroker(AMQP)
    await broker.connect()
    redis = connect_redis(REDIS)
    store = RedisConversationStore(redis)
    await topology.declare_base(broker)
    for cid, members in conversations.items():
        await store.put_conversation(Conversation(cid, cid, [*members, bot], owner=bot, group=True))
        for user in [*members, bot]:
            await topology.add_member(broker, cid, user)
    await broker.close()
    await redis.aclose()

    ports = [free_port(), free_port()]
    node_ids = [f"check{uuid.uuid4().hex[:6]}" for _ in ports]  # to find each node's own queues
    hutch = Path(sys.executable).with_name("hutch")
    nodes = [
        subprocess.Popen(
            [
                str(hutch),
                "serve",
                "--dev-mode",
                "--port",
                str(p),
                "--amqp",
                AMQP,
                "--redis",
                REDIS,
                "--log-level",
                "warning",
            ],
            env=os.environ | NO_RATE_LIMITS | {"HUTCH_NODE_ID": node_id},
        )
        for p, node_id in zip(ports, node_ids, strict=True)
    ]
    try:
        for port in ports:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        devices = [
            Device(user, ports[(i + d) % 2]) for i, user in enumerate(users) for d in range(args.devices)
        ]
        for start in range(0, len(devices), 100):
            await asyncio.gather(*(d.open() for d in devices[start : start + 100]))
        listed = subprocess.run(
            ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name"], capture_output=True, text=True
        ).stdout.split()
        node_queues = [q for q in listed if any(q.startswith(f"hutch.node.{n}.") for n in node_ids)]
        print(f"{len(devices)} connections open on 2 nodes; AMQP queues of the nodes: {len(node_queues)}")

        receipted: set[str] = set()
        refused: Counter[str] = Counter()
        connection = await aio_pika.connect_robust(AMQP)
        channel = await connection.channel()
        bot_exchange = await channel.get_exchange(f"{bot}.publish")
        started = time.monotonic()
        tasks = [
            asyncio.create_task(publisher(u, cid, ports[i % 2], args.messages, receipted, refused))
            for i, (cid, members) in enumerate(conversations.items())
            for u in members
        ]
        if args.restart:
            await asyncio.sleep(0.3)
            subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
            print(f"RabbitMQ restarted at {time.monotonic() - started:.1f} s")
        await asyncio.gather(*tasks)
        for _ in range(1200):
            if all(httpx.get(f"http://127.0.0.1:{p}/health").status_code == 200 for p in ports):
                break
            await asyncio.sleep(0.1)
        print(f"both nodes healthy at {time.monotonic() - started:.1f} s")
        await asyncio.sleep(1)
        for cid in conversations:
            body = f"{bot}:{cid}"
            await bot_exchange.publish(aio_pika.Message(body.encode()), f"{cid}.messages")
            receipted.add(body)
        await asyncio.sleep(3)
        await connection.close()

        member_of = {u: cid for cid, members in conversations.items() for u in members}
        lost = duplicated = delivered = acks = 0
        for device in devices:
            cid = member_of[device.user]
            expected = {b for b in receipted if b.split(":")[0] in conversations[cid] or b == f"{bot}:{cid}"}
            for body, count in device.got.items():  # the messages' bodies are text, the acks MAX's JSON
                acks, delivered = (
                    (acks + count, delivered) if body.startswith("{") else (acks, delivered + count)
                )
            lost += len(expected - set(device.got))
            duplicated += sum(c - 1 for c in device.got.values() if c > 1)
        print(
            f"receipted {len(receipted)}, refused {dict(refused)}, delivered {delivered} "
            f"(and {acks} stored acks), lost {lost}, duplicated {duplicated}"
        )
        sys.exit(1 if lost or duplicated else 0)
    finally:
        for node in nodes:
            node.terminate()
            node.wait(20)


if __name__ == "__main__":
    asyncio.run(main())
