"""The load generator: processes that each hold many STOMP-over-WebSocket connections.

Each connection is an asyncio protocol on websockets' sans-I/O client (no task per
connection) and parsing is minimal on purpose (find the body after the blank
line, read the sequence number and send time from it), so that the generator is
not the bottleneck. Each process reports when its subscriptions are all in place (each
SUBSCRIBE carries a receipt), publishes on "go", and returns its counts.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import os
import random
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

CODED = "application/x-hutch+json; rules=max@1"  # packed JSON, as the widget sends a chat message


@dataclass
class Role:
    url: str
    host: str  # the CONNECT host header: Web-STOMP wants a vhost
    login: str
    passcode: str
    subscribers: list[tuple[str, str]] = field(default_factory=list)  # (login, destination)
    # (login, destination, first sequence number): a subscriber expects numbers 0..expected-1
    publishers: list[tuple[str, str, int]] = field(default_factory=list)
    messages: int = 0  # per publisher
    rate: float = 0.0  # messages/s per publisher; 0 = as fast as receipts come back (burst)
    expected: int = 0  # messages each subscriber should receive
    # and the hub's "stored" acks each should receive (chat on hutch): the run ends when they
    # are in too, so the server's CPU for storing and acking falls inside the measurement
    acks: int = 0
    size: int = 100
    coded: bool = False  # MAX messages with a uuid (packed JSON), else plain text
    heartbeat: int = 0  # ms both ways; the subscribers send theirs, the server must send its own
    hold: float = 0.0  # seconds the connections stay idle (heart-beats only) before publishing
    deadline: float = 60.0


@dataclass
class Report:
    received: int = 0
    acks: int = 0  # the hub's "stored" acks received
    lost: int = 0
    duplicated: int = 0
    latencies_us: list[int] = field(default_factory=list)
    published: int = 0
    dropped: int = 0  # connections the server closed
    cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def frame(command: str, headers: dict[str, str], body: str = "") -> str:
    return command + "\n" + "".join(f"{k}:{v}\n" for k, v in headers.items()) + "\n" + body + "\x00"


class StompSocket(asyncio.Protocol):
    """One STOMP-over-WebSocket connection on websockets' sans-I/O client: no task of its own.

    Until `on_message` is set, what arrives is queued for `recv` (the CONNECT and SUBSCRIBE
    replies, a publisher's receipts); after, each WebSocket message goes straight to it.
    """

    def __init__(self, url: str):
        self.ws = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("v12.stomp")], max_size=None)
        self.transport: asyncio.Transport | None = None
        self.opened = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[bytes], None] | None = None
        self.on_lost: Callable[[], None] = lambda: None
        self._replies: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._write()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.handshake_exc is not None:
                    self.opened.set_exception(self.ws.handshake_exc)
                else:
                    self.opened.set_result(None)
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY):
                if self.on_message is not None:
                    self.on_message(event.data)
                else:
                    self._replies.put_nowait(event.data)
        self._write()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        self.on_lost()

    def send(self, text: str) -> None:
        self.ws.send_text(text.encode())
        self._write()

    async def recv(self) -> bytes:
        return await self._replies.get()

    def _write(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()


async def open_connection(role: Role, login: str, heartbeat: int = 0) -> StompSocket:
    uri = parse_uri(role.url)
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(lambda: StompSocket(role.url), uri.host, uri.port)
    await asyncio.wait_for(sock.opened, 60)
    headers = {"accept-version": "1.2", "host": role.host, "login": login, "passcode": role.passcode}
    sock.send(frame("CONNECT", headers | {"heart-beat": f"{heartbeat},{heartbeat}"}))
    reply = await sock.recv()
    if b"CONNECTED" not in reply:
        raise RuntimeError(f"CONNECT refused: {reply!r}"[:300])
    return sock


async def receipt(sock: StompSocket) -> None:
    while b"RECEIPT" not in await sock.recv():
        pass


class Subscriber:
    def __init__(self, expected: int, report: Report):
        self.seen = bytearray(expected)
        self.report = report

    def on_message(self, data: bytes) -> None:
        now_ns = time.time_ns()
        for frame in data.split(b"\x00"):  # a WebSocket message may hold several frames
            frame = frame.lstrip(b"\r\n")
            if not frame.startswith(b"MESSAGE"):
                continue
            body = frame[frame.index(b"\n\n") + 2 :]
            if body[:1] == b"{":  # coded: a bench message (its text in data.text), or the hub's
                at = body.find(b'"text":"')
                if at < 0:
                    # in a chat on hutch, a "stored" ack (packed JSON: action "k"), else a delivery receipt
                    self.report.acks += b'"a":"k"' in body
                    continue
                body = body[at + 8 :]
            if not body[:1].isdigit():
                continue
            sequence, _, sent = body.partition(b":")
            number = int(sequence)
            self.report.received += 1
            self.report.latencies_us.append((now_ns - int(sent.partition(b":")[0])) // 1000)
            if number < len(self.seen):
                if self.seen[number]:
                    self.report.duplicated += 1
                self.seen[number] = 1


async def run_role(role: Role, control: multiprocessing.connection.Connection) -> Report:
    report = Report()
    subscribers: list[Subscriber] = []
    beats: list[asyncio.Task[None]] = []

    async def subscribe(login: str, destination: str) -> None:
        sock = await open_connection(role, login, role.heartbeat)
        sock.send(
            frame("SUBSCRIBE", {"id": "0", "destination": destination, "ack": "auto", "receipt": "ready"})
        )
        await receipt(sock)
        subscriber = Subscriber(role.expected, report)
        subscribers.append(subscriber)
        sock.on_message = subscriber.on_message
        sock.on_lost = lost
        if role.heartbeat:
            beats.append(asyncio.create_task(beat(sock)))

    def lost() -> None:
        report.dropped += 1  # the server closed a connection: the process ends without closing any

    async def beat(sock: StompSocket) -> None:
        await asyncio.sleep(random.uniform(0, role.heartbeat / 1000))
        while True:
            sock.send("\n")
            await asyncio.sleep(role.heartbeat / 1000)

    for start in range(0, len(role.subscribers), 200):
        await asyncio.gather(*(subscribe(*s) for s in role.subscribers[start : start + 200]))
    publishers = [
        (await open_connection(role, login), destination, first)
        for login, destination, first in role.publishers
    ]
    control.send("ready")
    control.recv()  # go
    await asyncio.sleep(role.hold)
    padding = "x" * max(0, role.size - 40)

    async def publish(sock: StompSocket, destination: str, first: int) -> None:
        interval = 1 / role.rate if role.rate else 0.0
        # Publishers start at random points of the interval, so a fixed rate is a steady load
        # rather than all of them firing at once.
        next_at = time.monotonic() + random.uniform(0.0, interval)
        await asyncio.sleep(next_at - time.monotonic())
        for n in range(role.messages):
            number = first + n
            body = f"{number}:{time.time_ns()}:{padding}"
            headers = {"destination": destination, "receipt": str(n)}
            if role.coded:
                headers["content-type"] = CODED
                body = f'{{"g":"{uuid.uuid4().hex}","a":"a","o":"m","d":{{"text":"{body}"}}}}'
            sock.send(frame("SEND", headers, body))
            await receipt(sock)
            report.published += 1
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(publish(sock, d, first) for sock, d, first in publishers))
    deadline = time.monotonic() + role.deadline
    want, acks = role.expected * len(subscribers), role.acks * len(subscribers)
    while (report.received < want or report.acks < acks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # late duplicates
    report.lost = sum(s.seen.count(0) for s in subscribers)
    if report.acks < acks:
        report.errors.append(f"{acks - report.acks} of {acks} stored acks did not arrive")
    if report.dropped:
        report.errors.append(f"the server closed {report.dropped} connections")
    for task in beats:
        task.cancel()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.cpu_seconds = usage.ru_utime + usage.ru_stime
    return report


def process_main(role: Role, control: multiprocessing.connection.Connection) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        report = asyncio.run(run_role(role, control))
    except Exception as error:  # reported, so the run says what went wrong
        report = Report(errors=[f"{type(error).__name__}: {error}"[:300]])
        control.send("ready")
    control.send(report)
    os._exit(0)
