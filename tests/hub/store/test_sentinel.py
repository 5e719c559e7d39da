"""hutch on Redis through Sentinel: the primary is killed under chat and REST traffic, the
sentinels promote the replica, and the hub goes on serving. No request answers 500, /health
shows the gap, and every receipted message is stored once: WAIT made sure it was on a replica,
so while the old primary is away the worker holds what it cannot store that safely."""

import asyncio
import time

import httpx
from backends import AMQP_URL, SECRET
from chat_traffic import say_until_receipted
from hub_server import running_hub
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from private_redis import SentinelSet, redis_sentinel_set
from security.helpers import fresh


def test_a_redis_failover_under_traffic_loses_nothing_and_answers_no_500() -> None:
    with redis_sentinel_set() as redis:
        settings = {
            "amqp_url": AMQP_URL,
            "redis_sentinels": redis.setting,
            "redis_wait_replicas": 1,
            "redis_wait_timeout": 0.2,
            "worker": True,
            "dev_mode": False,
            "jwt_secret": SECRET,
        }
        with running_hub(**settings) as hub:
            asyncio.run(traffic_through_a_failover(redis, hub.url))


async def restart_later(redis: SentinelSet, port: int, seconds: float) -> None:
    """The killed primary comes back, as the new primary's replica: until then no message has a
    replica, and the worker holds them (WAIT)."""
    await asyncio.sleep(seconds)
    await asyncio.to_thread(redis.restart, port)


async def traffic_through_a_failover(redis: SentinelSet, base: str) -> None:
    ana, bob = fresh("ana", "bob")
    async with HutchAPI(base, mint_token(ana, SECRET)) as anas_api:
        cid = (await anas_api.create_conversation([bob]))["id"]
    statuses: list[int] = []
    health: list[dict] = []
    sending = True

    async def poll() -> None:  # what REST users and a load balancer see meanwhile
        headers = {"Authorization": f"Bearer {mint_token(bob, SECRET)}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            while sending:
                statuses.append((await http.get(f"/api/conversations/{cid}/messages")).status_code)
                health.append((await http.get("/health")).json())
                await asyncio.sleep(0.05)

    polling = asyncio.create_task(poll())
    first_primary = redis.primary_now()
    sent = [f"m{n}" for n in range(60)]
    stored: set[str] = set()  # the "stored" ticks ana's device sees
    async with HutchClient(f"{base.replace('http', 'ws')}/ws", ana, mint_token(ana, SECRET)) as anas:
        stream = await anas.subscribe(f"/exchange/{ana}.subscribe")

        async def ticks() -> None:
            async for message in stream:
                if message.stored_id is not None:
                    stored.add(message.stored_id)

        ticking = asyncio.create_task(ticks())
        for n, text in enumerate(sent):
            await say_until_receipted(anas, ana, cid, text)
            if n == 20:
                redis.kill(first_primary)
                back = asyncio.create_task(restart_later(redis, first_primary, 6.0))
            await asyncio.sleep(0.05)
        await back
        deadline = time.monotonic() + 30
        while len(stored) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ticking.cancel()
    async with HutchAPI(base, mint_token(bob, SECRET)) as bobs_api:
        deadline = time.monotonic() + 30
        while True:
            try:
                history = [m["data"]["text"] for m in await bobs_api.messages(cid, limit=100)]
            except Exception:  # 503 while the store is away
                history = []
            if len(history) >= len(sent) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    sending = False
    await polling

    assert redis.primary_now() != first_primary  # the replica was promoted
    assert history == sent  # each receipted message stored once, in order
    assert len(stored) == len(sent)  # and each said so to its sender once it had a replica
    assert set(statuses) <= {200, 503} and 503 in statuses  # the gap, and never a 500
    assert any(h["store"] == "down" for h in health)
    assert health[-1]["status"] == "ok" and health[-1]["store_gaps"]
