"""The load generator: processes that each hold many STOMP-over-WebSocket connections.

Parsing is minimal on purpose (find the body after the blank line, read the
sequence number and send time from it), so that the generator is not the
bottleneck. Each process reports when its subscriptions are all in place (each
SUBSCRIBE carries a receipt), publishes on "go", and returns its counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.connection
import os
import random
import resource
import time
from dataclasses import dataclass, field

import websockets


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
    size: int = 100
    heartbeat: int = 0  # ms both ways; the subscribers send theirs, the server must send its own
    hold: float = 0.0  # seconds the connections stay idle (heart-beats only) before publishing
    deadline: float = 60.0


@dataclass
class Report:
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    latencies_us: list[int] = field(default_factory=list)
    published: int = 0
    dropped: int = 0  # connections the server closed
    cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def frame(command: str, headers: dict[str, str], body: str = "") -> str:
    return command + "\n" + "".join(f"{k}:{v}\n" for k, v in headers.items()) + "\n" + body + "\x00"


async def open_connection(role: Role, login: str, heartbeat: int = 0) -> websockets.ClientConnection:
    ws = await websockets.connect(role.url, subprotocols=["v12.stomp"], open_timeout=60, max_queue=None)
    hb = f"{heartbeat},{heartbeat}"
    await ws.send(
        frame(
            "CONNECT",
            {
                "accept-version": "1.2",
                "host": role.host,
                "login": login,
                "passcode": role.passcode,
                "heart-beat": hb,
            },
        )
    )
    reply = await ws.recv()
    if not str(reply).startswith("CONNECTED"):
        raise RuntimeError(f"CONNECT refused: {reply!r}"[:300])
    return ws


class Subscriber:
    def __init__(self, expected: int, report: Report):
        self.seen = bytearray(expected)
        self.report = report

    def on_message(self, data: str | bytes) -> None:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        now_ns = time.time_ns()
        for frame in text.split("\x00"):  # a WebSocket message may hold several frames
            frame = frame.lstrip("\r\n")
            if not frame.startswith("MESSAGE"):
                continue
            body = frame[frame.index("\n\n") + 2 :]
            if not body[:1].isdigit():
                continue  # not a bench message (a hub's "stored" ack, say)
            sequence, _, sent = body.partition(":")
            number = int(sequence)
            self.report.received += 1
            self.report.latencies_us.append((now_ns - int(sent.partition(":")[0])) // 1000)
            if number < len(self.seen):
                if self.seen[number]:
                    self.report.duplicated += 1
                self.seen[number] = 1


async def run_role(role: Role, control: multiprocessing.connection.Connection) -> Report:
    report = Report()
    subscribers: list[Subscriber] = []
    readers: list[asyncio.Task[None]] = []

    async def subscribe(login: str, destination: str) -> None:
        ws = await open_connection(role, login, role.heartbeat)
        await ws.send(
            frame("SUBSCRIBE", {"id": "0", "destination": destination, "ack": "auto", "receipt": "ready"})
        )
        while not str(await ws.recv()).startswith("RECEIPT"):
            pass
        subscriber = Subscriber(role.expected, report)
        subscribers.append(subscriber)

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for data in ws:
                    subscriber.on_message(data)
            report.dropped += 1  # the server closed it (cancelling the reader does not get here)

        readers.append(asyncio.create_task(read()))
        if role.heartbeat:
            readers.append(asyncio.create_task(beat(ws)))

    async def beat(ws: websockets.ClientConnection) -> None:
        await asyncio.sleep(random.uniform(0, role.heartbeat / 1000))
        while True:
            await ws.send("\n")
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

    async def publish(ws: websockets.ClientConnection, destination: str, first: int) -> None:
        interval = 1 / role.rate if role.rate else 0.0
        # Publishers start at random points of the interval, so a fixed rate is a steady load
        # rather than all of them firing at once.
        next_at = time.monotonic() + random.uniform(0.0, interval)
        await asyncio.sleep(next_at - time.monotonic())
        for n in range(role.messages):
            number = first + n
            body = f"{number}:{time.time_ns()}:{padding}"
            await ws.send(frame("SEND", {"destination": destination, "receipt": str(n)}, body))
            while not str(await ws.recv()).startswith("RECEIPT"):
                pass
            report.published += 1
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(publish(ws, d, first) for ws, d, first in publishers))
    deadline = time.monotonic() + role.deadline
    want = role.expected * len(subscribers)
    while report.received < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # late duplicates
    report.lost = sum(s.seen.count(0) for s in subscribers)
    if report.dropped:
        report.errors.append(f"the server closed {report.dropped} connections")
    for task in readers:
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
