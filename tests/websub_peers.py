"""Loopback WebSub peers for the hub's tests: subscribers whose callbacks behave as told, and a
publisher's topic. One Starlette app served by hypercorn in the test's own loop.

    GET  /cb/<name>?hub.challenge=..   verification: "ok.." echoes the challenge, "wrong.." echoes
                                       something else, "missing.." answers 404, "moved.." 302
    POST /cb/<name>                    a delivery, recorded: "gone.." answers 410, "failing.."
                                       500 (then 200 once `heal` names it), "slow.." waits first
    GET  /topic                        the publisher's Atom feed (`topic_body`)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

ATOM = "application/atom+xml"


@dataclass
class Delivered:
    headers: dict[str, str]
    body: bytes


@dataclass
class Peers:
    port: int
    verifications: defaultdict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    deliveries: defaultdict[str, list[Delivered]] = field(default_factory=lambda: defaultdict(list))
    attempts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    healed: set[str] = field(default_factory=set)
    refusing: set[str] = field(default_factory=set)  # callbacks that now answer 404 to a verification
    slow_seconds: float = 3.0
    topic_links: str = ""  # a Link header the topic is served with (its hub and self)
    topic_etag: str = "v1"
    topic_fetches: int = 0
    topic_body: bytes = b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title></feed>"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def callback(self, name: str) -> str:
        return f"{self.base}/cb/{name}"

    async def verify(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.verifications[name].append(dict(request.query_params))
        challenge = request.query_params.get("hub.challenge", "")
        if name.startswith("missing") or name in self.refusing:
            return PlainTextResponse("no", status_code=404)
        if name.startswith("moved"):
            return RedirectResponse(f"{self.base}/cb/ok-elsewhere?{request.url.query}", status_code=302)
        if name.startswith("wrong"):
            return PlainTextResponse(challenge + "x")
        return PlainTextResponse(challenge)

    async def deliver(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.attempts[name] += 1
        if name.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        if name.startswith("gone"):
            return Response(status_code=410)
        if name.startswith("failing") and name not in self.healed:
            return Response(status_code=500)
        body = await request.body()  # first: the entry appears only with what it holds
        self.deliveries[name].append(Delivered(dict(request.headers), body))
        return Response(status_code=204)

    async def topic(self, request: Request) -> Response:
        self.topic_fetches += 1
        if request.headers.get("if-none-match") == self.topic_etag:
            return Response(status_code=304)
        headers = {"ETag": self.topic_etag} | ({"Link": self.topic_links} if self.topic_links else {})
        return Response(self.topic_body, media_type=ATOM, headers=headers)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cb/{name}", self.verify, methods=["GET"]),
                Route("/cb/{name}", self.deliver, methods=["POST"]),
                Route("/topic", self.topic),
            ]
        )

    @contextlib.asynccontextmanager
    async def running(self):  # type: ignore[no-untyped-def]
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.loglevel = "WARNING"
        config.keep_alive_timeout = 30
        config.graceful_timeout = 1
        stop = asyncio.Event()
        task = asyncio.create_task(serve(self.app(), config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        try:
            yield self
        finally:
            stop.set()
            await task
