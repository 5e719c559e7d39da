"""Activity streams at scale: live posts to a context's subscribers on two nodes, and the first
page of a timeline read from a large Redis store.

    python -m bench.activity [--subscribers 1000] [--posts 20]
                             [--contexts 200] [--activities 200000] [--reads 500] [--quick]

live      two `hutch serve` nodes on RabbitMQ (a vhost of their own) and Redis (a database of
          its own), one context with `notifications: posts` and SUBSCRIBERS subscribers, half
          connected to each node and subscribed to their own stream; one of them posts POSTS
          activities over REST, one at a time. Every subscriber must get every post once. Prints
          the server CPU (both nodes' process trees and RabbitMQ's) per delivered activity.
timeline  CONTEXTS contexts holding ACTIVITIES activities in Redis, one user subscribed to all of
          them; READS reads of the user's first timeline page (20 items), through the hub's
          rules in process (what the route runs) and over HTTP from a node: p50/p99/max.

Redis databases `--redis-db` and the next one are used and must be empty; they are emptied after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
import websockets
from hutch.hub.activity.model import Activity, new_id
from hutch.hub.activity.redis import RedisActivities
from hutch.hub.activity.rules import Activities, Paging
from hutch.hub.auth import Identity, mint_token
from hutch.hub.contexts.model import Context, Subscription
from hutch.hub.contexts.redis import RedisContexts
from hutch.hub.contexts.rules import Contexts
from hutch.hub.store.redis import connect
from hutch.rules import Form, decode

from bench import NO_RATE_LIMITS
from bench.__main__ import AMQP, add_vhost, beam_pid, cpu_seconds, free_port, tree

YEAR = 365 * 24 * 3600
SECRET = "bench-activity-secret-of-32-bytes-or-more"
REDIS = os.environ.get("HUTCH_REDIS_URL", "redis://127.0.0.1:6379")


def redis_url(db: int) -> str:
    return urlsplit(REDIS)._replace(path=f"/{db}").geturl()


@contextmanager
def empty_database(db: int) -> Iterator[str]:
    """A Redis database that is empty now, emptied again after."""

    async def size_then(flush: bool) -> int:
        client = aioredis.from_url(redis_url(db))
        size = await client.dbsize()
        if flush:
            await client.flushdb()
        await client.aclose()
        return size

    if asyncio.run(size_then(False)):
        raise SystemExit(f"bench: Redis database {db} is not empty; pass another --redis-db")
    try:
        yield redis_url(db)
    finally:
        asyncio.run(size_then(True))


@contextmanager
def nodes(count: int, amqp: str | None, redis: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` hub nodes on loopback ports, ready; their ports are in `node.port`."""
    media = tempfile.mkdtemp(prefix="bench-media-")
    env = os.environ | NO_RATE_LIMITS | {"HUTCH_JWT_SECRET": SECRET, "HUTCH_MEDIA_DIR": media}
    hutch = Path(sys.executable).with_name("hutch")
    started = []
    for _ in range(count):
        port = free_port()
        command = [str(hutch), "serve", "--port", str(port), "--redis", redis, "--log-level", "warning"]
        node = subprocess.Popen([*command, *(["--amqp", amqp] if amqp else [])], env=env)
        node.port = port  # type: ignore[attr-defined]
        started.append(node)
    try:
        for node in started:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{node.port}/health").status_code == 200:  # type: ignore[attr-defined]
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        yield started
    finally:
        for node in started:
            node.terminate()
            node.wait(10)
        subprocess.run(["rm", "-rf", media], check=False)


def headers(user: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user, SECRET, roles=list(roles))}"}


# -- live --------------------------------------------------------------------------------


async def subscriber(user: str, port: int, posts: int, ready: asyncio.Event, got: Counter[str]) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["v12.stomp"]) as ws:
        token = mint_token(user, SECRET)
        await ws.send(f"CONNECT\naccept-version:1.2\nlogin:{user}\npasscode:{token}\n\n\x00")
        assert (await ws.recv()).startswith("CONNECTED")
        await ws.send(f"SUBSCRIBE\nid:s\ndestination:/exchange/{user}.subscribe\nreceipt:r\n\n\x00")
        assert (await ws.recv()).startswith("RECEIPT")
        ready.set()
        seen = 0
        while seen < posts:
            frame = await ws.recv()
            if not isinstance(frame, str) or not frame.startswith("MESSAGE"):
                continue
            head, _, body = frame.partition("\n\n")
            kind = next((h[13:] for h in head.split("\n") if h.startswith("content-type:")), "")
            envelope = (
                decode(body.rstrip("\x00").encode(), Form.PACKED_JSON, "max@1")
                if "hutch" in kind
                else json.loads(body.rstrip("\x00"))
            )
            got[envelope["data"]["id"]] += 1
            seen += 1


async def live(args: argparse.Namespace, redis: str) -> None:
    vhost = add_vhost()
    try:
        with nodes(2, f"{AMQP.rstrip('/')}/{vhost}", redis) as hubs:
            ports = [hub.port for hub in hubs]  # type: ignore[attr-defined]
            run = uuid.uuid4().hex[:6]
            users = [f"s{run}n{n}" for n in range(args.subscribers)]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as http:
                made = await http.post(
                    "/api/contexts",
                    json={"url": f"https://bench.example/{run}", "preset": "open", "notifications": "posts"},
                    headers=headers("boss", "admin"),
                )
                hash = made.json()["hash"]
                for start in range(0, len(users), 50):
                    await asyncio.gather(
                        *(
                            http.post(
                                f"/api/contexts/{hash}/subscriptions",
                                json={"username": user},
                                headers=headers(user),
                            )
                            for user in users[start : start + 50]
                        )
                    )
                got: Counter[str] = Counter()
                readies = [asyncio.Event() for _ in users]
                tasks = [
                    asyncio.create_task(subscriber(user, ports[i % 2], args.posts, readies[i], got))
                    for i, user in enumerate(users)
                ]
                for start in range(0, len(readies), 100):
                    await asyncio.wait_for(
                        asyncio.gather(*(r.wait() for r in readies[start : start + 100])), 60
                    )
                pids = [pid for hub in hubs for pid in tree(hub.pid)]
                rabbit = beam_pid()
                before, rabbit_before, started = cpu_seconds(pids), cpu_seconds([rabbit]), time.monotonic()
                for n in range(args.posts):
                    posted = await http.post(
                        f"/api/contexts/{hash}/activities",
                        json={"content": f"news {n}"},
                        headers=headers(users[0]),
                    )
                    assert posted.status_code == 201, posted.text
                await asyncio.wait_for(asyncio.gather(*tasks), 120)
                seconds = time.monotonic() - started
                hub_cpu, rabbit_cpu = cpu_seconds(pids) - before, cpu_seconds([rabbit]) - rabbit_before
        deliveries = sum(got.values())
        wrong = [id for id, count in got.items() if count != args.subscribers]
        print(
            f"live: {args.posts} posts to a context with {args.subscribers} subscribers online over 2 nodes: "
            f"{deliveries} deliveries in {seconds:.2f} s, {len(wrong)} posts not delivered exactly once to each"
        )
        print(
            f"  server CPU per delivered activity: {(hub_cpu + rabbit_cpu) / deliveries * 1e6:.1f} µs "
            f"(hubs {hub_cpu / deliveries * 1e6:.1f} µs, RabbitMQ {rabbit_cpu / deliveries * 1e6:.1f} µs)"
        )
        if wrong or deliveries != args.posts * args.subscribers:
            sys.exit(1)
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, check=False)


# -- timeline ------------------------------------------------------------------------------


async def fill(redis: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """CONTEXTS contexts with ACTIVITIES activities spread over them, and a reader of them all."""
    client = connect(redis)  # the hub's own bounded pool
    contexts, activities = RedisContexts(client), RedisActivities(client)
    reader = "reader"
    hashes = []
    for n in range(args.contexts):
        context = Context(
            f"https://bench.example/c{n}", notifications="posts", owner="boss", created=time.time()
        )
        await contexts.put(context)
        await contexts.subscribe(Subscription(context.hash, reader, created=time.time()))
        hashes.append(context.hash)
    batch, now = [], time.time()
    for n in range(args.activities):
        # A year of posts, oldest first, each in a context drawn at random.
        published = now - YEAR * (args.activities - n) / args.activities
        activity = Activity.new(f"author{n % 500}", f"post {n} #tag{n % 50}", random.choice(hashes))
        activity.id, activity.published = new_id(published), published
        batch.append(activities.add(activity))
        if len(batch) == 500:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)
    await client.aclose()
    return reader, hashes


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms"


async def read_in_process(redis: str, reader: str, reads: int) -> list[float]:
    client = connect(redis)
    activities = Activities(RedisActivities(client), Contexts(RedisContexts(client)))
    took = []
    for _ in range(reads):
        started = time.perf_counter()
        items, _ = await activities.timeline(Identity(reader), reader, Paging(limit=20))
        took.append((time.perf_counter() - started) * 1000)
        assert len(items) == 20
    await client.aclose()
    return took


async def read_over_http(port: int, reader: str, reads: int) -> list[float]:
    took = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers(reader)) as http:
        for _ in range(reads):
            started = time.perf_counter()
            page = await http.get(f"/api/people/{reader}/timeline")
            took.append((time.perf_counter() - started) * 1000)
            assert page.status_code == 200 and len(page.json()["items"]) == 20, page.text
    return took


def timeline(args: argparse.Namespace, redis: str) -> None:
    started = time.monotonic()
    reader, _ = asyncio.run(fill(redis, args))
    print(
        f"timeline: {args.activities} activities in {args.contexts} contexts in Redis "
        f"(written in {time.monotonic() - started:.0f} s), a reader subscribed to every context"
    )
    asyncio.run(read_in_process(redis, reader, 20))  # warm
    print(
        f"  first page (20) in process, {args.reads} reads: {percentiles(asyncio.run(read_in_process(redis, reader, args.reads)))}"
    )
    with nodes(1, None, redis) as [hub]:
        asyncio.run(read_over_http(hub.port, reader, 20))  # type: ignore[attr-defined]
        took = asyncio.run(read_over_http(hub.port, reader, args.reads))  # type: ignore[attr-defined]
    print(f"  first page (20) over HTTP from a node, {args.reads} reads: {percentiles(took)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.activity")
    parser.add_argument("--scenarios", default="live,timeline")
    parser.add_argument("--subscribers", type=int, default=1000, help="live")
    parser.add_argument("--posts", type=int, default=20, help="live")
    parser.add_argument("--contexts", type=int, default=200, help="timeline")
    parser.add_argument("--activities", type=int, default=200_000, help="timeline")
    parser.add_argument("--reads", type=int, default=500, help="timeline")
    parser.add_argument(
        "--redis-db", type=int, default=9, help="this Redis database and the next, both empty"
    )
    parser.add_argument("--quick", action="store_true", help="a small run that proves the bench works")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.posts, args.contexts, args.activities, args.reads = 20, 3, 10, 300, 20
    scenarios = args.scenarios.split(",")
    if "live" in scenarios:
        with empty_database(args.redis_db) as redis:
            asyncio.run(live(args, redis))
    if "timeline" in scenarios:
        with empty_database(args.redis_db + 1) as redis:
            timeline(args, redis)


if __name__ == "__main__":
    main()
