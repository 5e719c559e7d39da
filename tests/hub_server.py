"""A real hub on a loopback port, in a thread of the test process, and clients for it."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import stomp
import websockets
from hutch.hub.app import create_app
from hutch.hub.broker import topology
from hutch.hub.cli import HubServer, server_config
from hutch.hub.conversations.model import Conversation
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from hutch.protocol import Frame
from stomp_frames import client_frame, parse_server_frames
from websockets.asyncio.client import ClientConnection

T = TypeVar("T")

# Grants like a RabbitMQ user's ".*" ".*" ".*", for the tests of destination semantics;
# `running_hub(permissions_file=None)` gives the hub's default grants (own names only).
OPEN_GRANTS = Path(__file__).with_name("open-permissions.toml")
START_WAIT = 30.0  # seconds: the first hub of a run on a busy machine starts slowly


class RunningHub:
    def __init__(self, settings: Settings, port: int = 0):
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart takes its port again
        # Answers leave at once, as `hutch serve` sends them: without it a keep-alive request
        # waits 40 ms for the client's delayed ACK (the listening socket's setting is inherited).
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        if not settings.public_url:  # the hub's own URLs (WebSub topics) name the port it got
            settings = settings.model_copy(update={"public_url": self.url})
        self.app = create_app(settings)
        self.node: HubNode = self.app.state.node
        self.server = HubServer(server_config(self.app, settings, "warning"), self.node)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve(sockets=[self._socket]))

    def start(self) -> RunningHub:
        self._thread.start()
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and self._thread.is_alive():
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        # Stopped, not left running: a hub that started late would go on consuming the shared
        # RabbitMQ's work queues (its worker the single active consumer of `messages`) under
        # the tests that follow.
        self.stop()
        raise RuntimeError(f"the hub did not start within {START_WAIT:.0f} s")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)

    @property
    def tcp_port(self) -> int:
        assert self.node.tcp_port is not None
        return self.node.tcp_port

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the hub's own loop (to reach its broker) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join(hub: RunningHub, cid: str, *users: str) -> None:
    """Make `users` the members of conversation `cid`: in the store and in the broker."""
    conversation = Conversation(
        cid, cid, list(users), owner=users[0] if len(users) > 2 else None, group=len(users) > 2
    )
    hub.call(hub.node.stores.conversations.put_conversation(conversation))
    for user in users:
        hub.call(topology.add_member(hub.node.broker, cid, user))


def hub_fixture(*backends: str, scope: str = "module", **settings: Any) -> Any:
    """A fixture: a hub with `settings` on each of `backends` in turn (both when none is named),
    on the embedded defaults or on RabbitMQ and Redis."""
    from backends import BROKERS, hub_settings

    @pytest.fixture(scope=scope, params=list(backends or BROKERS))  # type: ignore[call-overload]
    def fixture(request: pytest.FixtureRequest) -> Iterator[RunningHub]:
        with running_hub(**hub_settings(request.param) | settings) as hub:
            yield hub

    return fixture


@contextlib.contextmanager
def running_hub(port: int = 0, **overrides: Any) -> Iterator[RunningHub]:
    """A hub on `port` (any free one by default) with settings `overrides`."""
    media = tempfile.mkdtemp(prefix="hutch-media-")  # each hub's uploads, gone with it
    defaults = {
        "host": "127.0.0.1",
        "tcp_port": 0,
        "dev_mode": True,
        "permissions_file": OPEN_GRANTS,
        "media_dir": media,
        "websub_allow_private": True,  # the tests' subscribers and publishers are on loopback
        "rest_rate": 0,  # the fuzzer and the API tests call far faster than a person (tests/hub/core/test_rate_limits.py sets it)
    }
    settings = Settings(**(defaults | overrides))
    hub = RunningHub(settings, port).start()
    try:
        yield hub
    finally:
        hub.stop()
        shutil.rmtree(media, ignore_errors=True)


class WsClient:
    """A raw STOMP-over-WebSocket client: one frame per WebSocket message."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.heartbeats = 0
        self.binary_messages = 0
        self._held: list[Frame] = []  # frames that arrived while waiting for a receipt

    @classmethod
    async def open(
        cls,
        hub: RunningHub,
        login: str | None = "alice",
        *,
        version: str = "1.2",
        headers: dict[str, str] | None = None,
    ) -> WsClient:
        ws = await websockets.connect(
            hub.ws_url, subprotocols=["v10.stomp", "v11.stomp", "v12.stomp"], max_size=None
        )
        client = cls(ws)
        if login is not None:
            connect = {"accept-version": version, "host": "127.0.0.1", "login": login, "passcode": "x"}
            await client.send("CONNECT", connect | (headers or {}))
            frame = await client.recv()
            assert frame.command == "CONNECTED", frame
        return client

    async def send(self, command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        await self.ws.send(client_frame(command, headers, body).decode("utf-8", "surrogateescape"))

    async def send_raw(self, data: bytes) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = 5.0) -> Frame:
        if self._held:
            return self._held.pop(0)
        while True:
            message = await asyncio.wait_for(self.ws.recv(), timeout)
            if isinstance(message, bytes):
                self.binary_messages += 1
            data = message if isinstance(message, bytes) else message.encode()
            frames = parse_server_frames(data)  # queued frames may share a WebSocket message
            self.heartbeats += sum(1 for f in frames if f.command == "HEARTBEAT")
            frames = [f for f in frames if f.command != "HEARTBEAT"]
            if frames:
                self._held.extend(frames[1:])
                return frames[0]

    async def subscribe(self, destination: str, sub_id: str = "0", **headers: str) -> None:
        await self.send(
            "SUBSCRIBE", {"id": sub_id, "destination": destination, "receipt": f"sub-{sub_id}", **headers}
        )
        await self.receipt(f"sub-{sub_id}")

    async def publish(self, destination: str, body: bytes, **headers: str) -> None:
        await self.send("SEND", {"destination": destination, "receipt": "pub", **headers}, body)
        await self.receipt("pub")

    async def receipt(self, receipt_id: str) -> None:
        """Wait for a RECEIPT; MESSAGE frames that come first are kept for `recv`."""
        held = []
        while (frame := await self.recv()).command == "MESSAGE":
            held.append(frame)
        assert frame.command == "RECEIPT" and frame.headers["receipt-id"] == receipt_id, frame
        self._held[:0] = held  # before what came after the receipt in the same WebSocket message

    async def error_then_close(self, timeout: float = 5.0) -> Frame:
        """The ERROR frame the hub sends, after which it must close the connection."""
        frame = await self.recv(timeout)
        assert frame.command == "ERROR", frame
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        return frame

    async def close(self) -> None:
        await self.ws.close()


class Collector(stomp.ConnectionListener):
    """Frames a stomp.py connection received, to wait on from the test."""

    def __init__(self) -> None:
        self.messages: queue.Queue[stomp.utils.Frame] = queue.Queue()
        self.errors: queue.Queue[stomp.utils.Frame] = queue.Queue()
        self.receipts: queue.Queue[str] = queue.Queue()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.messages.put(frame)

    def on_error(self, frame: stomp.utils.Frame) -> None:
        self.errors.put(frame)

    def on_receipt(self, frame: stomp.utils.Frame) -> None:
        self.receipts.put(frame.headers["receipt-id"])

    def message(self, timeout: float = 5.0) -> stomp.utils.Frame:
        return self.messages.get(timeout=timeout)

    def receipt(self, timeout: float = 5.0) -> str:
        return self.receipts.get(timeout=timeout)

    def nothing_more(self, wait: float = 0.3) -> bool:
        try:
            self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        return False


def stomp_py(hub: RunningHub, transport: str, login: str = "alice") -> tuple[stomp.Connection, Collector]:
    """A connected stomp.py client over WebSocket or plain TCP, with its frames collected."""
    if transport == "ws":
        conn: Any = stomp.WSStompConnection([("127.0.0.1", hub.port)], ws_path="/ws")
    else:
        conn = stomp.Connection([("127.0.0.1", hub.tcp_port)])
    collector = Collector()
    conn.set_listener("collector", collector)
    conn.connect(login, "secret", wait=True)
    return conn, collector
