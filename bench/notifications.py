"""The notification feed on Redis: appending to many users' feeds, and reading a first page with
rollups.

    python -m bench.notifications [--users 10000] [--each 10] [--readers 50] [--reads 500] [--quick]

append  USERS users get EACH notifications each, 50 appends at a time, through the feed as the
        hub runs it (the store's one-step add with eviction, the unseen count): appends per
        second and p50/p99 of one append.
read    READERS users with a full feed (1,000: likes and comments on 20 posts, mentions, and
        backends' own categories), READS reads of a first page (20 entries, rolled up by the
        hub's default rules), in process (what the route runs) and over HTTP from a node.

Redis database `--redis-db` is used and must be empty; it is emptied after.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import httpx
from hutch.hub.notifications import events
from hutch.hub.notifications.ranges import IdRange
from hutch.hub.notifications.redis import RedisFeeds
from hutch.hub.notifications.service import Feeds
from hutch.hub.store.redis import connect

from bench.activity import empty_database, headers, nodes, percentiles

FEED_LIMIT = 1000
KINDS = [
    (events.LIKE, "liked your post"),
    (events.COMMENT, "commented on your post"),
    (events.MENTION, "mentioned you"),
    ("digest", "Your digest is ready"),
]


async def append(redis: str, users: int, each: int) -> list[float]:
    client = connect(redis)
    feeds = Feeds(RedisFeeds(client), FEED_LIMIT)
    took: list[float] = []

    async def one(user: str, n: int) -> None:
        started = time.perf_counter()
        await feeds.notify(
            user, events.LIKE, f"fan{n} liked your post", {"target": f"post{n % 5}", "by": f"fan{n}"}
        )
        took.append((time.perf_counter() - started) * 1000)

    jobs = [(f"user{u}", n) for n in range(each) for u in range(users)]
    for start in range(0, len(jobs), 50):
        await asyncio.gather(*(one(user, n) for user, n in jobs[start : start + 50]))
    await client.aclose()
    return took


async def fill_readers(redis: str, readers: int) -> list[str]:
    client = connect(redis)
    feeds = Feeds(RedisFeeds(client), FEED_LIMIT)
    names = [f"reader{r}" for r in range(readers)]
    for name in names:
        batch = []
        for n in range(FEED_LIMIT):
            category, words = random.choice(KINDS)
            properties = {"target": f"post{random.randrange(20)}", "by": f"fan{n}"}
            batch.append(feeds.notify(name, category, f"fan{n} {words}", properties))
        await asyncio.gather(*batch)
    await client.aclose()
    return names


async def read_in_process(redis: str, names: list[str], reads: int) -> list[float]:
    client = connect(redis)
    feeds = Feeds(RedisFeeds(client), FEED_LIMIT)
    took = []
    for n in range(reads):
        started = time.perf_counter()
        page = await feeds.page(names[n % len(names)], IdRange())
        took.append((time.perf_counter() - started) * 1000)
        assert len(page.entries) == 20
    await client.aclose()
    return took


async def read_over_http(port: int, names: list[str], reads: int) -> list[float]:
    took = []
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers("backend", "admin")
    ) as http:
        for n in range(reads):
            started = time.perf_counter()
            page = await http.get(f"/v1/notifications/{names[n % len(names)]}")
            took.append((time.perf_counter() - started) * 1000)
            assert page.status_code == 200 and len(page.json()) == 20, page.text
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--each", type=int, default=10, help="notifications appended per user")
    parser.add_argument("--readers", type=int, default=50, help="users with a full feed, to read")
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--redis-db", type=int, default=11, help="an empty Redis database")
    parser.add_argument("--quick", action="store_true", help="a small run that proves the bench works")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.each, args.readers, args.reads = 50, 2, 2, 20
    with empty_database(args.redis_db) as redis:
        started = time.monotonic()
        took = asyncio.run(append(redis, args.users, args.each))
        seconds = time.monotonic() - started
        print(
            f"append: {len(took)} notifications to {args.users} users' feeds in {seconds:.1f} s "
            f"({len(took) / seconds:,.0f}/s, 50 at a time): {percentiles(took)} per append"
        )
        names = asyncio.run(fill_readers(redis, args.readers))
        print(
            f"read: {args.readers} full feeds of {FEED_LIMIT} (likes, comments, mentions, digests), first page of 20"
        )
        asyncio.run(read_in_process(redis, names, 20))  # warm
        print(
            f"  in process, {args.reads} reads: {percentiles(asyncio.run(read_in_process(redis, names, args.reads)))}"
        )
        with nodes(1, None, redis) as [hub]:
            asyncio.run(read_over_http(hub.port, names, 20))  # type: ignore[attr-defined]
            took = asyncio.run(read_over_http(hub.port, names, args.reads))  # type: ignore[attr-defined]
        print(f"  over HTTP from a node, {args.reads} reads: {percentiles(took)}")


if __name__ == "__main__":
    main()
