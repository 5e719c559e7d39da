"""`HutchClient`: a STOMP-over-WebSocket connection to a hub that comes back by itself.

Every SUBSCRIBE and every SEND asks for a RECEIPT and waits for it, so a call
returns once the hub took the frame, or raises `Refused` (the hub's ERROR) or
`ConnectionLost`. When the connection drops, the client reconnects with
exponential backoff, subscribes again, and a subscription made with
`recover=True` asks the hub for what it missed (`x-since` the last stored id it
saw). Messages that are dicts travel as MAX envelopes under a rule set, with a
uuid, so a SEND retried after a lost receipt is not delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from hutch.clients.python.errors import ConnectionLost, Refused
from hutch.clients.seen import Seen
from hutch.protocol import Frame, ProtocolError, names
from hutch.protocol.client import ClientConnection
from hutch.rules import CodecError, decode, parse_content_type
from websockets.asyncio.client import ClientConnection as WebSocket

log = logging.getLogger(__name__)

SUBPROTOCOLS = ["v12.stomp", "v11.stomp", "v10.stomp"]
SEEN_UUIDS = 1000  # per recovering subscription: replays may repeat what arrived just before a drop

Callback = Callable[["Message"], Awaitable[None] | None]


_UNDECODED = object()


@dataclass(slots=True)
class Message:
    destination: str
    headers: dict[str, str]
    body: bytes
    subscription: Subscription
    _decoded: Any = field(default=_UNDECODED, init=False, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def data(self) -> Any:
        """The body as Python: decoded by its rule set, parsed as JSON, or else its text (decoded once)."""
        if self._decoded is _UNDECODED:
            self._decoded = self._decode()
        return self._decoded

    def _decode(self) -> Any:
        content_type = self.headers.get("content-type", "")
        coded = parse_content_type(content_type)
        if coded is not None:
            with contextlib.suppress(CodecError):
                return decode(self.body, *coded)
        if content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                return json.loads(self.body)
        return self.text

    @property
    def stored_id(self) -> str | None:
        """The history id this message tells of: a replayed message's, or the one the worker's
        stored ack carries (`x-hutch-stored`: a member's forged ack does not move the cursor)."""
        if "x-hutch-id" in self.headers:
            return self.headers["x-hutch-id"]
        if self.headers.get(names.STORED_HEADER) != "true":
            return None
        data = self.data()
        if isinstance(data, dict) and data.get("action") == "ack" and isinstance(data.get("data"), dict):
            stored = data["data"].get("id")
            return stored if isinstance(stored, str) else None
        return None


class Subscription:
    """Messages of one destination: `async for message in subscription`, or a callback."""

    def __init__(
        self,
        client: HutchClient,
        sub_id: str,
        destination: str,
        ack: str,
        headers: dict[str, str],
        callback: Callback | None,
        recover: bool,
    ):
        self.client = client
        self.id = sub_id
        self.destination = destination
        self.ack = ack
        self.headers = headers
        self.callback = callback
        self.recover = recover
        self.last_id: str | None = None  # newest stored message seen: where recovery starts
        self.recovered: bool | None = None  # what the hub said of the last recovery
        self.replayed = 0
        self._seen = Seen(SEEN_UUIDS)
        self._queue: asyncio.Queue[Message] = asyncio.Queue()

    def frame_headers(self) -> dict[str, str]:
        headers = {"id": self.id, "destination": self.destination, "ack": self.ack, **self.headers}
        if self.recover and self.last_id:
            headers["x-since"] = self.last_id
        return headers

    async def get(self, timeout: float | None = None) -> Message:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self._queue.get()

    async def unsubscribe(self) -> None:
        await self.client.unsubscribe(self)

    async def _deliver(self, message: Message) -> None:
        if self.recover and self._repeated(message):
            return
        stored = message.stored_id
        if stored is not None and (self.last_id is None or _id_key(stored) > _id_key(self.last_id)):
            self.last_id = stored
        if self.callback is None:
            self._queue.put_nowait(message)
            return
        try:
            result = self.callback(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("the callback of %s failed", self.destination)

    def _repeated(self, message: Message) -> bool:
        data = message.data()
        key = data.get("uuid") if isinstance(data, dict) else None
        if not isinstance(key, str) or (data.get("action") not in (None, "add")):
            return False
        return not self._seen.first_time(key)


# ERRORs that say the hub cannot serve right now, not that the frame is refused: a
# subscription refused with one is made again on the next connection, not dropped.
PASSING = frozenset({"broker unavailable", "store unavailable", "broker moved", "shutting down"})


class HutchClient:
    """One user's connection to a hub, over WebSocket (`ws://host:port/ws`). Given several hub
    URLs (the nodes of one deployment), it moves to the next whenever a connection fails or is
    lost, and recovers there what its `recover=True` subscriptions missed."""

    def __init__(
        self,
        url: str | Sequence[str],
        login: str,
        token: str | None = None,
        *,
        form: str = "json",
        rules: str = "max@1",
        heartbeat_ms: int = 10_000,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.2, 10.0),
        timeout: float = 10.0,
    ):
        self.urls = [url] if isinstance(url, str) else list(url)
        self._at = 0  # the URL tried now
        self.login = login
        self.token = token
        self.form = form  # how the hub sends coded messages: json, packed-json or packed-msgpack
        self.rules = rules  # the rule set of dict messages this client sends
        self.heartbeat_ms = heartbeat_ms
        self.reconnect = reconnect
        self.backoff = backoff
        self.timeout = timeout
        self.connections = 0  # how many times a connection was made: 1 + reconnects
        self._subscriptions: dict[str, Subscription] = {}
        self._pending: dict[str, asyncio.Future[Frame]] = {}
        self._ids = itertools.count(1)
        self._ws: WebSocket | None = None
        self._protocol: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._first: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HutchClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The hub URL this client is connected to, or will try next."""
        return self.urls[self._at]

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def connect(self) -> None:
        """Connect and log in; raises `Refused` (bad login) or `ConnectionLost` (no hub there)."""
        self._closing = False
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(self._first))
        await self._first

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None and self._connected.is_set():
            with contextlib.suppress(Exception):
                await self._request("DISCONNECT", {}, timeout=2.0)
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout or self.timeout)

    # -- what users call ----------------------------------------------------

    async def subscribe(
        self,
        destination: str,
        callback: Callback | None = None,
        *,
        ack: str = "auto",
        headers: dict[str, str] | None = None,
        recover: bool = False,
        since: str | None = None,
    ) -> Subscription:
        """Subscribe and wait for the hub's receipt. `recover=True` (a user stream) also asks, after
        every reconnect, for the messages stored since the last one seen (or since `since`)."""
        sub = Subscription(
            self, f"s{next(self._ids)}", destination, ack, headers or {}, callback, recover or bool(since)
        )
        sub.last_id = since
        await self.wait_connected()
        self._subscriptions[sub.id] = sub
        try:
            self._recovery_noted(sub, await self._request("SUBSCRIBE", sub.frame_headers()))
        except Refused:
            self._subscriptions.pop(sub.id, None)
            raise
        except ConnectionLost:
            pass  # it is registered: the next connection subscribes it again
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        if self._subscriptions.pop(sub.id, None) is not None and self._connected.is_set():
            with contextlib.suppress(ConnectionLost):
                await self._request("UNSUBSCRIBE", {"id": sub.id})

    async def send(
        self,
        destination: str,
        body: dict[str, Any] | str | bytes,
        *,
        headers: dict[str, str] | None = None,
        attempts: int = 3,
    ) -> None:
        """Send and wait until the hub took it. A dict is a MAX message: it gets a uuid, so it is
        sent again after a lost connection (the hub drops the repeat); other bodies are sent once."""
        frame_headers, payload = self._encode(body)
        frame_headers = {"destination": destination, **frame_headers, **(headers or {})}
        tries = attempts if isinstance(body, dict) else 1
        for attempt in range(1, tries + 1):
            await self.wait_connected()
            try:
                await self._request("SEND", frame_headers, payload)
                return
            except ConnectionLost:
                if attempt == tries:
                    raise

    async def say(self, cid: str, text: str, **data: Any) -> None:
        """Post a chat message to conversation `cid`, as a MAX envelope on one's own exchange."""
        user = self.login.rpartition(":")[2]
        message = {
            "user": {"username": user},
            "action": "add",
            "object": "message",
            "data": {"text": text, **data},
        }
        await self.send(f"/exchange/{names.publish_exchange(user)}/{names.message_key(cid)}", message)

    async def ack(self, message: Message) -> None:
        await self._request("ACK", self._ack_headers(message))

    async def nack(self, message: Message) -> None:
        await self._request("NACK", self._ack_headers(message))

    # -- the connection -----------------------------------------------------

    async def _run(self, first: asyncio.Future[None]) -> None:
        delay = self.backoff[0]
        tried = 0  # URLs that failed one after the other
        while not self._closing:
            connections = self.connections
            try:
                await self._session(first)
                delay = self.backoff[0]
            except Refused as error:  # the login was refused: trying again will not help
                self._lost(error)
                if not first.done():
                    first.set_exception(error)
                log.warning("hutch refused the login of %s: %s", self.login, error)
                return
            except (
                OSError, TimeoutError, ConnectionLost, ProtocolError,
                websockets.ConnectionClosed, websockets.InvalidHandshake,
            ) as error:  # fmt: skip
                if self.connections > connections:  # it was connected: a fresh start
                    tried, delay = 0, self.backoff[0]
                tried += 1
                if not first.done() and tried >= len(self.urls):
                    hubs = ", ".join(self.urls)
                    first.set_exception(ConnectionLost(f"cannot connect to {hubs}: {error}"))
                    return
                log.info("connection to %s lost: %s", self.url, error)
            else:
                tried = 0
            self._at = (self._at + 1) % len(self.urls)  # the next node, if there are several
            if not first.done():  # connecting for the first time: the next URL at once
                continue
            self._lost(ConnectionLost("the connection to the hub was lost"))
            if self._closing or not self.reconnect:
                return
            if tried < len(self.urls) and len(self.urls) > 1:
                continue  # another node may be up: no waiting before trying it
            tried = 0
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.backoff[1])

    async def _session(self, first: asyncio.Future[None]) -> None:
        """One connection, from CONNECT until it closes."""
        async with websockets.connect(
            self.url,
            subprotocols=SUBPROTOCOLS,
            max_size=None,
            open_timeout=self.timeout,  # type: ignore[arg-type]
        ) as ws:
            protocol = ClientConnection()
            connect = protocol.connect(
                host=urlsplit(self.url).hostname or "localhost",
                login=self.login,
                passcode=self.token,
                heartbeat=(self.heartbeat_ms, self.heartbeat_ms),
                headers={"x-hutch-form": self.form},
            )
            await ws.send(connect.decode())
            try:
                await asyncio.wait_for(_logged_in(ws, protocol), self.timeout)
            except Refused as error:
                if error.message in PASSING:  # the hub is short of its broker: not a no
                    raise ConnectionLost(str(error)) from error
                raise
            self._ws, self._protocol = ws, protocol
            self.connections += 1
            reader = asyncio.create_task(self._read(ws, protocol))
            beats = asyncio.create_task(self._heartbeats(ws, protocol))
            try:
                for sub in list(self._subscriptions.values()):
                    try:
                        self._recovery_noted(sub, await self._request("SUBSCRIBE", sub.frame_headers()))
                    except Refused as error:
                        if error.message in PASSING:  # the hub is short of its broker: not a no
                            raise ConnectionLost(str(error)) from error
                        self._subscriptions.pop(sub.id, None)  # no longer allowed (left, say)
                        log.warning("%s was refused on reconnect: %s", sub.destination, error)
                self._connected.set()
                if not first.done():
                    first.set_result(None)
                await reader
            finally:
                self._connected.clear()
                self._ws = self._protocol = None
                beats.cancel()
                reader.cancel()

    async def _read(self, ws: WebSocket, protocol: ClientConnection) -> None:
        async for raw in ws:
            for frame in protocol.receive_data(raw if isinstance(raw, bytes) else raw.encode()):
                await self._dispatch(frame)

    async def _heartbeats(self, ws: WebSocket, protocol: ClientConnection) -> None:
        """Beat as agreed; the WebSocket's own pings find a dead hub."""
        every_ms = protocol.heartbeat[0]
        if not every_ms:
            return
        while True:
            await asyncio.sleep(every_ms / 1000)
            await ws.send("\n")

    async def _dispatch(self, frame: Frame) -> None:
        headers = frame.headers
        if frame.command == "MESSAGE":
            sub = self._subscriptions.get(headers.get("subscription", ""))
            if sub is not None:  # else it came just before an UNSUBSCRIBE took effect
                await sub._deliver(Message(headers.get("destination", ""), headers, frame.body, sub))
        elif frame.command == "RECEIPT":
            future = self._pending.pop(headers.get("receipt-id", ""), None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif frame.command == "ERROR":  # the hub closes the connection after it: stop writing to it
            self._connected.clear()
            error = Refused(headers.get("message", "error"), frame.body.decode("utf-8", "replace"))
            future = self._pending.pop(headers.get("receipt-id", ""), None)
            if future is not None and not future.done():
                future.set_exception(error)
            else:
                log.warning("hutch sent ERROR: %s", error)

    async def _request(
        self, command: str, headers: dict[str, str], body: bytes = b"", timeout: float | None = None
    ) -> Frame:
        """Write a frame asking for a receipt; the RECEIPT, or `Refused` / `ConnectionLost`."""
        ws, protocol = self._ws, self._protocol
        if ws is None or protocol is None:
            raise ConnectionLost("not connected")
        receipt = f"r{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[receipt] = future
        data = protocol.frame(command, {**headers, "receipt": receipt}, body)
        try:
            try:
                await ws.send(data.decode())
            except UnicodeDecodeError:
                await ws.send(data)
            return await asyncio.wait_for(future, timeout or self.timeout)
        except websockets.ConnectionClosed as error:
            raise ConnectionLost(str(error)) from None
        finally:
            self._pending.pop(receipt, None)

    def _lost(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    def _encode(self, body: dict[str, Any] | str | bytes) -> tuple[dict[str, str], bytes]:
        if isinstance(body, dict):
            message = {"uuid": uuid.uuid4().hex, **body}
            return {"content-type": f"application/json; rules={self.rules}"}, json.dumps(message).encode()
        if isinstance(body, str):
            return {"content-type": "text/plain; charset=utf-8"}, body.encode()
        return {}, body

    @staticmethod
    def _ack_headers(message: Message) -> dict[str, str]:
        if "ack" in message.headers:
            return {"id": message.headers["ack"]}
        return {"message-id": message.headers["message-id"], "subscription": message.subscription.id}

    @staticmethod
    def _recovery_noted(sub: Subscription, receipt: Frame) -> None:
        if "x-recovered" in receipt.headers:
            sub.recovered = receipt.headers["x-recovered"] == "true"
            sub.replayed = int(receipt.headers.get("x-replayed", "0"))


async def _logged_in(ws: WebSocket, protocol: ClientConnection) -> None:
    async for raw in ws:
        for frame in protocol.receive_data(raw if isinstance(raw, bytes) else raw.encode()):
            if frame.command == "CONNECTED":
                return
            if frame.command == "ERROR":
                raise Refused(frame.headers.get("message", "error"), frame.body.decode("utf-8", "replace"))
    raise ConnectionLost("the hub closed the connection before CONNECTED")


def _id_key(message_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = message_id.partition("-")
    return int(milliseconds or 0), int(sequence or 0)
