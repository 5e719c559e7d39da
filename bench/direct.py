"""Direct messaging at scale: one broadcast to every user, and delivery receipts of a big group.

    python -m bench.direct [--users 100000] [--online 1000] [--nodes 2] [--group 200] [--quick]

broadcast  USERS users are known (they have connected once), ONLINE of them are connected,
           spread over NODES nodes on RabbitMQ and Redis. An admin broadcasts once: how long
           until the last online device has it, how many messages the broker carried on
           `hutch.direct` for it (a queue of the bench's own counts them), and how long until
           every known user's feed holds it (the walk in pages of 500).
receipts   a group of GROUP (the sender and GROUP - 1 others online across the nodes); the sender
           sends MESSAGES messages: how many receipt frames reach it, for how many deliveries.

Redis database `--redis-db` is used and must be empty; it is emptied after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import aio_pika
import httpx
import redis.asyncio as aioredis
import websockets
from hutch.hub.auth import mint_token
from hutch.protocol import names
from hutch.rules import Form, decode

from bench.activity import SECRET, empty_database, headers, nodes

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


async def device(port: int, user: str) -> websockets.ClientConnection:
    """`user` connected, their stream open."""
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["v12.stomp"], max_size=None)
    await ws.send(f"CONNECT\naccept-version:1.2\nlogin:{user}\npasscode:{mint_token(user, SECRET)}\n\n\x00")
    assert str(await ws.recv()).startswith("CONNECTED")
    await ws.send(f"SUBSCRIBE\nid:s\ndestination:/exchange/{user}.subscribe\nreceipt:r\n\n\x00")
    assert str(await ws.recv()).startswith("RECEIPT")
    return ws


def envelope_of(frame: str | bytes) -> dict | None:
    text = frame.decode() if isinstance(frame, bytes) else frame
    if not text.startswith("MESSAGE"):
        return None
    return decode(text.partition("\n\n")[2].rstrip("\x00").encode(), Form.PACKED_JSON, "max@1")


async def until(ws: websockets.ClientConnection, wanted: str) -> float:
    """When a direct message with text `wanted` arrives."""
    while True:
        for frame in str(await ws.recv()).split("\x00"):
            message = envelope_of(frame.lstrip("\n")) if frame.strip() else None
            if message and message.get("object") == "direct" and message["data"]["text"] == wanted:
                return time.perf_counter()


async def broadcast(redis: str, ports: list[int], users: int, online: int) -> None:
    client = aioredis.from_url(redis)
    for start in range(0, users, 10_000):  # known users: as if each had connected once
        await client.sadd(
            "hutch:direct:users", *(f"known{n}" for n in range(start, min(start + 10_000, users)))
        )
    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel()
    counted = await channel.declare_queue(exclusive=True)
    await counted.bind(names.DIRECT, "#")
    devices = [await device(ports[n % len(ports)], f"known{n}") for n in range(online)]
    text = f"broadcast {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ports[0]}", headers=headers("boss", "admin")
    ) as http:
        started = time.perf_counter()
        answer = await http.post("/api/broadcast", json={"text": text})
        assert answer.status_code == 202, answer.text
        answered = time.perf_counter()
        arrived = await asyncio.gather(*(until(ws, text) for ws in devices))
        print(
            f"broadcast: {users:,} known users, {online:,} online on {len(ports)} nodes: answered in "
            f"{(answered - started) * 1000:.0f} ms, last online device had it after "
            f"{(max(arrived) - started) * 1000:.0f} ms"
        )
        sample = [f"known{n}" for n in range(0, users, max(users // 20, 1))] + [f"known{users - 1}"]
        while True:
            feeds = [(await http.get(f"/v1/notifications/{user}")).json() for user in sample]
            if all(feed and feed[0]["message"] == text for feed in feeds):
                break
            await asyncio.sleep(0.2)
        walked = time.perf_counter()
    await asyncio.sleep(0.5)
    carried = 0
    while await counted.get(fail=False, no_ack=True) is not None:
        carried += 1
    print(
        f"  every known user's feed held it after {walked - started:.1f} s "
        f"({users / (walked - started):,.0f} feeds/s); the broker carried {carried} message(s) on "
        f"{names.DIRECT} for it"
    )
    for ws in devices:
        await ws.close()
    await connection.close()
    await client.aclose()


async def receipts(ports: list[int], group: int, messages: int) -> None:
    run = uuid.uuid4().hex[:6]
    sender, members = f"sender{run}", [f"member{run}x{n}" for n in range(group - 1)]  # the sender is one
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", headers=headers(sender)) as http:
        answer = await http.post("/api/conversations", json={"participants": members})
        cid = answer.json()["id"]
    devices = [await device(ports[n % len(ports)], member) for n, member in enumerate(members)]
    ws = await device(ports[0], sender)
    for n in range(messages):
        body = json.dumps({"g": uuid.uuid4().hex, "a": "a", "o": "m", "d": {"text": f"m{n}"}})
        await ws.send(
            f"SEND\ndestination:/exchange/{sender}.publish/{cid}.messages\n"
            f"content-type:application/x-hutch+json; rules=max@1\n\n{body}\x00"
        )
    frames = deliveries = 0
    deadline = time.monotonic() + 30
    while deliveries < len(members) * messages and time.monotonic() < deadline:
        try:
            raw = await asyncio.wait_for(ws.recv(), 2.0)
        except TimeoutError:
            break
        for frame in str(raw).split("\x00"):
            message = envelope_of(frame.lstrip("\n")) if frame.strip() else None
            if message and message.get("object") == "receipt":
                frames += 1
                deliveries += len(message["data"]["delivered"])
    print(
        f"receipts: {messages} messages to a group of {group} on {len(ports)} nodes: {deliveries:,} "
        f"deliveries reported to the sender in {frames} receipt frames "
        f"({frames / messages:.2f} frames per message, against {len(members)} without batching)"
    )
    for each in (ws, *devices):
        await each.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.direct")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--online", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--group", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--redis-db", type=int, default=12, help="an empty Redis database")
    parser.add_argument("--quick", action="store_true", help="a small run that proves the bench works")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.online, args.group, args.messages = 1000, 20, 20, 3
    with empty_database(args.redis_db) as redis, nodes(args.nodes, AMQP, redis) as running:
        ports = [node.port for node in running]  # type: ignore[attr-defined]
        asyncio.run(broadcast(redis, ports, args.users, args.online))
        asyncio.run(receipts(ports, args.group, args.messages))


if __name__ == "__main__":
    main()
