"""Every bad input gets its ERROR and a close, while a neighbour connection keeps working."""

import asyncio
import random
import uuid

import pytest
from hub_server import RunningHub, WsClient
from stomp_frames import client_frame

F = client_frame

CONNECT = F("CONNECT", {"accept-version": "1.2", "host": "127.0.0.1", "login": "mallory", "passcode": "x"})

CASES = [
    ("garbage first", b"GET / HTTP/1.1\r\n\r\n", "Bad command"),
    ("SEND before CONNECT", F("SEND", {"destination": "/topic/a"}), "Illegal command"),
    ("unsupported version", F("CONNECT", {"accept-version": "3.0"}), "Version mismatch"),
    (
        "too large before login",
        b"CONNECT\n" + b"".join(b"h%d:%s\n" % (i, b"y" * 1000) for i in range(90)),
        "frame too large",
    ),
    ("bad escape", CONNECT + b"SEND\ndestination:/topic/a\\q\n\n\x00", "bad header escape"),
    ("unknown command", CONNECT + b"PUBLISH\n\n\x00", "Bad command"),
    ("SEND without destination", CONNECT + F("SEND"), "Missing destination"),
    ("SUBSCRIBE without id", CONNECT + F("SUBSCRIBE", {"destination": "/topic/a"}), "Missing header"),
    (
        "bad ack mode",
        CONNECT + F("SUBSCRIBE", {"id": "1", "destination": "/topic/a", "ack": "maybe"}),
        "bad ack mode",
    ),
    (
        "bad prefetch",
        CONNECT + F("SUBSCRIBE", {"id": "1", "destination": "/topic/a", "prefetch-count": "-1"}),
        "bad prefetch-count",
    ),
    (
        "duplicate id",
        CONNECT + F("SUBSCRIBE", {"id": "1", "destination": "/topic/a"}) * 2,
        "Duplicated subscription identifier",
    ),
    ("unknown destination", CONNECT + F("SEND", {"destination": "/nowhere/a"}), "Unknown destination"),
    (
        "empty destination",
        CONNECT + F("SUBSCRIBE", {"id": "1", "destination": "/queue/"}),
        "Invalid destination",
    ),
    ("missing exchange", CONNECT + F("SEND", {"destination": "/exchange/no-such-exchange/k"}), "not_found"),
    (
        "subscribe missing exchange",
        CONNECT + F("SUBSCRIBE", {"id": "1", "destination": "/exchange/nope"}),
        "not_found",
    ),
    ("missing amq queue", CONNECT + F("SEND", {"destination": "/amq/queue/no-such-queue"}), "not_found"),
    ("send to temp-queue", CONNECT + F("SEND", {"destination": "/temp-queue/a"}), "Invalid destination"),
    ("ACK of nothing", CONNECT + F("ACK", {"id": "42"}), "Invalid header"),
    ("COMMIT of nothing", CONNECT + F("COMMIT", {"transaction": "t"}), "Bad transaction"),
    ("second CONNECT", CONNECT + CONNECT, "already connected"),
    ("body on SUBSCRIBE", CONNECT + b"SUBSCRIBE\nid:1\ndestination:/topic/a\n\nbody\x00", "unexpected body"),
    (
        "short content-length",
        CONNECT + b"SEND\ndestination:/topic/a\ncontent-length:1\n\nabc\x00",
        "malformed frame",
    ),
    ("too many headers", CONNECT + F("SEND", {f"h{i}": "v" for i in range(200)}), "too many headers"),
    (
        "header too long",
        CONNECT + F("SEND", {"destination": "/topic/a", "h": "v" * 10_000}),
        "header too long",
    ),
]


@pytest.fixture
async def neighbour(hub: RunningHub):
    """A client subscribed before the bad one arrives; it must keep receiving."""
    destination = f"/topic/n-{uuid.uuid4().hex[:8]}"
    client = await WsClient.open(hub, "neighbour")
    await client.subscribe(destination)
    yield client, destination
    await client.publish(destination, b"still here")
    assert (await client.recv()).body == b"still here"
    await client.close()


@pytest.mark.parametrize(("name", "data", "message"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_gets_error_then_close(
    hub: RunningHub, neighbour, name: str, data: bytes, message: str
) -> None:
    bad = await WsClient.open(hub, login=None)
    await bad.send_raw(data)
    while (frame := await bad.recv()).command == "CONNECTED":
        pass
    assert frame.command == "ERROR", frame
    assert frame.headers["message"] == message
    await asyncio.wait_for(bad.ws.wait_closed(), 5)


async def test_random_bytes_never_hurt_the_neighbour(hub: RunningHub, neighbour) -> None:
    rng = random.Random(7)
    sample = [
        CONNECT,
        F("SEND", {"destination": "/topic/a"}, b"x"),
        F("SUBSCRIBE", {"id": "1", "destination": "/topic/b"}),
    ]
    for _ in range(60):
        data = bytearray(b"".join(rng.choices(sample, k=3)))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        client = await WsClient.open(hub, login=None)
        await client.send_raw(bytes(data))
        await client.send_raw(b"\x00\x00garbage\x00")
        frames = []
        try:
            while True:
                frames.append(await client.recv(timeout=2))
        except Exception:
            pass
        assert frames and frames[-1].command == "ERROR", frames
        assert frames[-1].headers.get("message")
