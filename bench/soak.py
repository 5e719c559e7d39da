"""A soak: mixed traffic over two hub nodes on a private three-node RabbitMQ cluster (quorum
queues) and Redis with Sentinel (WAIT 1), with a fault every few minutes, then what was lost.

    python -m bench.soak --minutes 30 [--users 30] [--fault-every 120] [--faults rabbit,redis,...]

Traffic: users in conversations of three, each on a `HutchClient` given both nodes (recovering
with x-since); every conversation has a message a second, each sent again with its uuid until
receipted; a fan-out topic all users hear; REST readers of history. Faults, in turn: a RabbitMQ
node stopped (started again 20 s later), a Redis failover (the old primary back 10 s later), a
hub node SIGKILLed (started again 5 s later), a slow consumer (the hub must cut it), a flood
(the hub must refuse it). At the end: chat messages receipted, deliveries expected and made,
lost and duplicated, what history holds, latency, REST answers, and each process's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets
from hutch.clients.python import ConnectionLost, HutchAPI, HutchClient, Refused
from hutch.hub.auth import mint_token
from hutch.protocol import names

# The private RabbitMQ cluster and Redis with Sentinel are the fault tests' own set-ups.
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from hub_server import free_port
from private_rabbitmq import rabbitmq_cluster
from private_redis import redis_sentinel_set

SECRET = "a soak secret, thirty-two bytes or more"
FAULTS = ("rabbit", "redis", "hub", "slow", "flood")
FLOOD_BURST = 1000  # frames a connection may send at once: far above the soak's own traffic


class Node:
    """A `hutch serve` process that can be killed and started again on its port."""

    def __init__(self, port: int, env: dict[str, str]):
        self.port, self.env = port, env
        self.process: subprocess.Popen[bytes] | None = None
        self.first_pid = 0

    def start(self) -> None:
        hutch = Path(sys.executable).with_name("hutch")
        command = [str(hutch), "serve", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=self.env)
        self.first_pid = self.first_pid or self.process.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health").status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the hub node on {self.port} did not come up")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


class Tally:
    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}  # text -> when its first SEND went
        self.receipted: dict[str, str] = {}  # text -> conversation
        self.heard: Counter[tuple[str, str]] = Counter()  # (user, text) -> times
        self.latency: list[float] = []
        self.fanout_sent = 0
        self.fanout_heard = 0
        self.rest: Counter[int] = Counter()
        self.faults: list[str] = []
        self.memory: list[dict[str, int]] = []  # a sample a minute


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rabbit_pid(rabbit: Any) -> int:
    """The node's Erlang VM, from the pid file RabbitMQ writes."""
    with contextlib.suppress(OSError, ValueError):
        return int((rabbit.base / "pid").read_text().strip())
    return 0


async def chat(
    client: HutchClient, user: str, cid: str, members: list[str], tally: Tally, until: float
) -> None:
    destination = f"/exchange/{names.publish_exchange(user)}/{names.message_key(cid)}"
    while time.monotonic() < until:
        text = f"{cid}:{uuid.uuid4().hex[:10]}"
        message = {"uuid": uuid.uuid4().hex, "user": {"username": user}, "action": "add", "object": "message"}
        tally.sent_at[text] = time.time()
        for _ in range(600):
            try:
                await client.send(destination, message | {"data": {"text": text}})
                tally.receipted[text] = cid
                break
            except (Refused, ConnectionLost):  # not taken: a fault is on
                await asyncio.sleep(0.1)
        await asyncio.sleep(random.uniform(0.5, 1.5) * len(members))


async def listen(client: HutchClient, user: str, tally: Tally) -> None:
    stream = await client.subscribe(f"/exchange/{user}.subscribe", recover=True)
    fan = await client.subscribe("/topic/soak.fan")

    async def fanned() -> None:
        async for _ in fan:
            tally.fanout_heard += 1

    task = asyncio.create_task(fanned())
    try:
        async for message in stream:
            data = message.data()
            if isinstance(data, dict) and data.get("action") == "add":
                text = data.get("data", {}).get("text", "")
                tally.heard[(user, text)] += 1
                if tally.heard[(user, text)] == 1 and text in tally.sent_at:
                    tally.latency.append(time.time() - tally.sent_at[text])
    finally:
        task.cancel()


async def fan_out(client: HutchClient, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        with contextlib.suppress(Refused, ConnectionLost):
            await client.send("/topic/soak.fan", "x" * 1024)
            tally.fanout_sent += 1
        await asyncio.sleep(0.05)


async def read_history(base: list[str], readers: list[tuple[str, str]], tally: Tally, until: float) -> None:
    """Members reading their conversations' history, on either node."""
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() < until:
            user, cid = random.choice(readers)
            url = f"{random.choice(base)}/api/conversations/{cid}/messages?limit=20"
            headers = {"Authorization": f"Bearer {mint_token(user, SECRET)}"}
            try:
                tally.rest[(await http.get(url, headers=headers)).status_code] += 1
            except httpx.TransportError:
                tally.rest[0] += 1  # a node down: no answer at all
            await asyncio.sleep(0.2)


async def stomp_socket(ws_url: str, user: str) -> websockets.ClientConnection:
    ws = await websockets.connect(ws_url, subprotocols=["v12.stomp"], max_size=None)
    await ws.send(f"CONNECT\naccept-version:1.2\nlogin:{user}\npasscode:{mint_token(user, SECRET)}\n\n\x00")
    await ws.recv()
    return ws


async def hub_answer(ws: websockets.ClientConnection) -> str:
    """Read what the hub still sends: its ERROR's message, or whether it closed or kept on."""
    try:
        while True:
            frame = str(await asyncio.wait_for(ws.recv(), 10))
            if frame.startswith("ERROR"):
                return "ERROR " + frame.split("message:", 1)[1].split("\n", 1)[0]
    except websockets.ConnectionClosed:
        return "closed by the hub"
    except TimeoutError:
        return "NOT closed"


async def slow_consumer(ws_url: str) -> str:
    """A subscriber that stops reading while 12 MiB come its way: the hub must cut it."""
    topic = f"/topic/soak.slow.{uuid.uuid4().hex[:6]}"
    slow = await stomp_socket(ws_url, f"slow{uuid.uuid4().hex[:6]}")
    await slow.send(f"SUBSCRIBE\nid:0\ndestination:{topic}\nreceipt:r\n\n\x00")
    await slow.recv()
    publisher = await stomp_socket(ws_url, f"pub{uuid.uuid4().hex[:6]}")
    with contextlib.suppress(websockets.ConnectionClosed):
        for _ in range(200):
            await publisher.send(f"SEND\ndestination:{topic}\n\n{'x' * 65536}\x00")
    await publisher.close()
    await asyncio.sleep(5)  # the slow one has not read a byte meanwhile
    answer = await hub_answer(slow)
    await slow.close()
    return answer


async def flood(ws_url: str) -> str:
    """20,000 SENDs as fast as they go: the hub must refuse the flooder (rate limit)."""
    ws = await stomp_socket(ws_url, f"flood{uuid.uuid4().hex[:6]}")
    with contextlib.suppress(websockets.ConnectionClosed):
        # 5,000 frames a WebSocket message: the hub reads more than the soak's burst (FLOOD_BURST)
        # at once, past the limit however busy the machine. (Sent in small pieces, a slow hub
        # takes them at its own pace, under the limit: the flooder is then only held back.)
        for _ in range(4):
            await ws.send("SEND\ndestination:/topic/soak.flood\n\nx\x00" * 5000)
    answer = await hub_answer(ws)
    await ws.close()
    return answer


async def inject(kind: str, rabbits: list[Any], redis: Any, nodes: list[Node], tally: Tally) -> None:
    started = time.strftime("%H:%M:%S")
    if kind == "rabbit":
        victim = random.choice(rabbits)
        await asyncio.to_thread(victim.ctl, "stop_app")
        await asyncio.sleep(20)
        await asyncio.to_thread(victim.ctl, "start_app")
        said = f"RabbitMQ {victim.node} stopped 20 s"
    elif kind == "redis":
        primary = await asyncio.to_thread(redis.primary_now)
        redis.kill(primary)
        await asyncio.sleep(10)
        await asyncio.to_thread(redis.restart, primary)
        said = f"Redis primary :{primary} killed, back 10 s later as a replica"
    elif kind == "hub":
        victim = nodes[-1]  # nodes[0] lives through the run, so that its memory is a whole run's
        victim.kill()
        await asyncio.sleep(5)
        await asyncio.to_thread(victim.start)
        said = f"hub node :{victim.port} SIGKILLed, started again 5 s later"
    elif kind == "slow":
        said = "slow consumer: " + await slow_consumer(f"ws://127.0.0.1:{random.choice(nodes).port}/ws")
    else:
        said = "flood: " + await flood(f"ws://127.0.0.1:{random.choice(nodes).port}/ws")
    tally.faults.append(f"{started} {said}")
    print(f"  fault at {started}: {said}", flush=True)


# Users may read and write the soak's topics (fan-out, the slow consumer's, the flood's).
GRANTS = """
[user]
topic_write = "^soak[.]"
topic_read = "^soak[.]"
"""


@contextlib.contextmanager
def hub_nodes(cluster: str, sentinels: str) -> Iterator[list[Node]]:
    grants = Path(tempfile.mkdtemp(prefix="soak-")) / "grants.toml"
    grants.write_text(GRANTS)
    env = os.environ | {
        "HUTCH_PERMISSIONS_FILE": str(grants),
        "HUTCH_JWT_SECRET": SECRET,
        "HUTCH_AMQP_URL": cluster,
        "HUTCH_AMQP_QUORUM": "1",
        "HUTCH_REDIS_SENTINELS": sentinels,
        "HUTCH_REDIS_WAIT_REPLICAS": "1",
        "HUTCH_WORKER": "true",
        "HUTCH_PRESENCE_TTL": "10",
        "HUTCH_OUTBOX_MAX_BYTES": str(256 * 1024),  # a slow consumer is cut in seconds
        "HUTCH_REST_RATE": "0",
        "HUTCH_RATE_FRAMES_BURST": str(FLOOD_BURST),
        "HUTCH_HISTORY_LIMIT": "1000000",  # history keeps every message of the run, to count them
    }
    nodes = [Node(free_port(), env), Node(free_port(), env)]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def soak(args: argparse.Namespace, rabbits: list[Any], redis: Any, nodes: list[Node]) -> dict[str, Any]:
    tally = Tally()
    urls = [f"ws://127.0.0.1:{node.port}/ws" for node in nodes]
    bases = [f"http://127.0.0.1:{node.port}" for node in nodes]
    run = uuid.uuid4().hex[:4]
    users = [f"u{run}{n}" for n in range(args.users)]
    groups = [users[i : i + 3] for i in range(0, len(users) - 2, 3)]
    cids = []
    for group in groups:
        async with HutchAPI(bases[0], mint_token(group[0], SECRET)) as api:
            cids.append((await api.create_conversation(group[1:]))["id"])
    memory_start = memory(rabbits, redis, nodes)
    clients = {
        user: HutchClient(urls[n % 2 :] + urls[: n % 2], user, mint_token(user, SECRET), backoff=(0.2, 2.0))
        for n, user in enumerate(users)
    }
    for client in clients.values():
        await client.__aenter__()
    until = time.monotonic() + args.minutes * 60
    tasks = [asyncio.create_task(listen(clients[user], user, tally)) for user in users]
    await asyncio.sleep(2)
    for group, cid in zip(groups, cids, strict=True):
        for user in group:
            tasks.append(asyncio.create_task(chat(clients[user], user, cid, group, tally, until)))
    tasks.append(asyncio.create_task(fan_out(clients[users[0]], tally, until)))
    readers = [(group[0], cid) for group, cid in zip(groups, cids, strict=True)]
    tasks += [asyncio.create_task(read_history(bases, readers, tally, until)) for _ in range(3)]
    tasks.append(asyncio.create_task(sample_memory(rabbits, redis, nodes, tally)))
    for task in tasks:
        task.add_done_callback(said_if_failed)
    kinds = [kind for kind in args.faults.split(",") if kind]
    number = 0
    while time.monotonic() + args.fault_every < until:
        await asyncio.sleep(args.fault_every)
        await inject(kinds[number % len(kinds)], rabbits, redis, nodes, tally)
        number += 1
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    print("  traffic ends; waiting for what is on its way", flush=True)
    # every member hears each message of their conversations on their stream, their own too
    expected = {(user, text) for text, cid in tally.receipted.items() for user in groups[cids.index(cid)]}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not expected <= set(tally.heard):
        await asyncio.sleep(1)
    await asyncio.sleep(2)
    for task in tasks:
        task.cancel()
    for client in clients.values():
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)
    stored: Counter[str] = Counter()
    for group, cid in zip(groups, cids, strict=True):
        async with HutchAPI(bases[0], mint_token(group[0], SECRET)) as member:
            before = None
            while page := await member.messages(cid, before=before, limit=200):
                stored.update(message["data"]["text"] for message in page)
                before = page[0]["id"]
    heard = set(tally.heard)
    latency = sorted(tally.latency)
    return {
        "minutes": args.minutes,
        "users": len(users),
        "conversations": len(cids),
        "chat receipted": len(tally.receipted),
        "deliveries expected": len(expected),
        "deliveries made": len(expected & heard),
        "lost": len(expected - heard),
        "duplicated": sum(count - 1 for count in tally.heard.values() if count > 1),
        "stored once": sum(1 for text in tally.receipted if stored[text] == 1),
        "not stored": sum(1 for text in tally.receipted if stored[text] == 0),
        "stored twice or more": sum(1 for text in tally.receipted if stored[text] > 1),
        "latency p50 ms": round(statistics.median(latency) * 1000, 1) if latency else None,
        "latency p99 ms": round(latency[int(len(latency) * 0.99) - 1] * 1000, 1) if latency else None,
        "latency max ms": round(latency[-1] * 1000, 1) if latency else None,
        "fan-out sent": tally.fanout_sent,
        "fan-out heard (at most once; all users)": tally.fanout_heard,
        "REST answers": dict(sorted(tally.rest.items())),
        "faults": tally.faults,
        "memory KiB at start": memory_start,
        "memory KiB at end": memory(rabbits, redis, nodes),
        "memory KiB a minute": by_process(tally.memory),
        "RabbitMQ memory MiB at end, by use": {rabbit.node: rabbit_uses(rabbit) for rabbit in rabbits},
    }


def said_if_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"  a traffic task failed: {task.exception()!r}", flush=True)


def memory(rabbits: list[Any], redis: Any, nodes: list[Node]) -> dict[str, int]:
    found = {f"hub :{node.port}": rss_kib(node.process.pid) for node in nodes if node.process}
    for rabbit in rabbits:
        found[f"rabbitmq {rabbit.node.split('@')[0][-1]}"] = rss_kib(rabbit_pid(rabbit))
    for port, process in sorted(redis.processes.items()):
        found[f"redis :{port}"] = rss_kib(process.pid)
    return found


async def sample_memory(rabbits: list[Any], redis: Any, nodes: list[Node], tally: Tally) -> None:
    while True:
        await asyncio.sleep(60)
        tally.memory.append(await asyncio.to_thread(memory, rabbits, redis, nodes))


def by_process(samples: list[dict[str, int]]) -> dict[str, list[int]]:
    return {name: [sample.get(name, 0) for sample in samples] for name in samples[0]} if samples else {}


def rabbit_uses(rabbit: Any) -> str:
    """What a RabbitMQ node's memory holds (its own account, rabbit_vm:memory), the uses over 2 MiB."""
    with contextlib.suppress(Exception):
        big = "[{K, V div 1048576} || {K, V} <- rabbit_vm:memory(), is_integer(V), V > 2097152]."
        return " ".join(rabbit.ctl("eval", big, timeout=30).split())
    return "not answered"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--fault-every", type=float, default=120, help="seconds between faults")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"in turn, from {','.join(FAULTS)}")
    args = parser.parse_args()
    print("starting a three-node RabbitMQ cluster, Redis with Sentinel and two hub nodes", flush=True)
    with contextlib.ExitStack() as running:
        rabbits = running.enter_context(rabbitmq_cluster(3))
        redis = running.enter_context(redis_sentinel_set())
        nodes = running.enter_context(hub_nodes(",".join(r.url for r in rabbits), redis.setting))
        report = asyncio.run(soak(args, rabbits, redis, nodes))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
