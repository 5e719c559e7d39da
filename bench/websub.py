"""The WebSub hub distributing one update to many subscribers.

    python -m bench.websub [--subscribers 1000] [--quick]

Starts `hutch serve` (embedded broker and store; loopback addresses allowed, as for tests),
subscribes SUBSCRIBERS callbacks of a loopback server in this process (each verified by its
challenge), then has the hub fetch and distribute one update of a 20 KB Atom topic. Prints the
time from the publish ping to the last delivery and the hub's CPU (its whole process tree) per
delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench import NO_RATE_LIMITS
from bench.__main__ import cpu_seconds, free_port, tree

TOPIC = (
    b"<feed xmlns='http://www.w3.org/2005/Atom'>" + b"<entry><title>news</title></entry>" * 600 + b"</feed>"
)


class Subscribers:
    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}  # callback name -> when its delivery arrived
        self.done = asyncio.Event()
        self.expected = 0

    async def verify(self, request: Request) -> Response:
        return PlainTextResponse(request.query_params.get("hub.challenge", ""))

    async def deliver(self, request: Request) -> Response:
        await request.body()
        self.delivered[request.path_params["name"]] = time.monotonic()
        if len(self.delivered) >= self.expected:
            self.done.set()
        return Response(status_code=204)

    async def topic(self, request: Request) -> Response:
        return Response(TOPIC, media_type="application/atom+xml")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cb/{name}", self.verify, methods=["GET"]),
                Route("/cb/{name}", self.deliver, methods=["POST"]),
                Route("/topic", self.topic),
            ]
        )


async def run(count: int) -> None:
    subscribers = Subscribers()
    subscribers.expected = count
    port, hub_port = free_port(), free_port()
    server = uvicorn.Server(uvicorn.Config(subscribers.app(), port=port, log_level="warning", loop="asyncio"))
    serving = asyncio.create_task(server.serve())
    env = os.environ | NO_RATE_LIMITS | {"HUTCH_WEBSUB_ALLOW_PRIVATE": "true"}
    hutch = Path(sys.executable).with_name("hutch")
    hub = await asyncio.create_subprocess_exec(
        str(hutch), "serve", "--port", str(hub_port), "--log-level", "warning", env=env
    )
    base, topic = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{port}/topic"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(200):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            for start in range(0, count, 50):
                forms = [
                    {
                        "hub.mode": "subscribe",
                        "hub.topic": topic,
                        "hub.callback": f"http://127.0.0.1:{port}/cb/s{n}",
                    }
                    for n in range(start, min(start + 50, count))
                ]
                await asyncio.gather(*(http.post("/websub", data=form) for form in forms))
            await asyncio.sleep(2)  # the verifications, answered by the subscribers above
            pids = tree(hub.pid)
            before, started = cpu_seconds(pids), time.monotonic()
            await http.post("/websub", data={"hub.mode": "publish", "hub.url": topic})
            await asyncio.wait_for(subscribers.done.wait(), 120)
            seconds, cpu = time.monotonic() - started, cpu_seconds(pids) - before
        print(
            f"websub: one update of {len(TOPIC):,} bytes to {count} subscribers: last delivery after "
            f"{seconds * 1000:.0f} ms, hub CPU {cpu / count * 1e6:.0f} µs per delivery "
            f"({len(subscribers.delivered)} delivered)"
        )
    finally:
        hub.terminate()
        await hub.wait()
        server.should_exit = True
        await serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.websub")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a small run that proves the bench works")
    args = parser.parse_args(argv)
    asyncio.run(run(20 if args.quick else args.subscribers))


if __name__ == "__main__":
    main()
