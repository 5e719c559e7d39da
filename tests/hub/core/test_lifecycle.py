"""Heart-beats, login timeout, slow consumers, authentication, shutdown, /health and /info."""

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_server import RunningHub, WsClient, free_port, running_hub, stomp_py
from stomp_frames import client_frame, parse_server_frames


@pytest.fixture(scope="module")
def quick_hub():
    """A hub with short timers so that time-based behaviour shows within a test."""
    with running_hub(
        heartbeat_floor_ms=200, login_timeout=0.5, outbox_max_bytes=256 * 1024, close_timeout=1.0
    ) as hub:
        yield hub


async def test_heart_beats_keep_a_connection_alive(quick_hub: RunningHub) -> None:
    client = await WsClient.open(quick_hub, headers={"heart-beat": "300,300"})
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        await client.ws.send("\n")
        await asyncio.sleep(0.2)
    destination = f"/topic/hb-{uuid.uuid4().hex[:6]}"
    await client.subscribe(destination)
    await client.publish(destination, b"alive")
    assert (await client.recv()).body == b"alive"
    assert client.heartbeats >= 3  # the hub sent its own heart-beats meanwhile
    await client.close()


async def test_a_silent_client_is_dropped(quick_hub: RunningHub) -> None:
    client = await WsClient.open(quick_hub, headers={"heart-beat": "300,0"})
    started = time.monotonic()
    error = await client.error_then_close()
    assert error.headers["message"] == "heart-beat timeout"
    assert 0.5 < time.monotonic() - started < 3


def test_stomp_py_with_heart_beats_stays_connected(quick_hub: RunningHub) -> None:
    import stomp

    conn = stomp.WSStompConnection([("127.0.0.1", quick_hub.port)], ws_path="/ws", heartbeats=(300, 300))
    conn.connect("alice", "x", wait=True)
    time.sleep(1.5)
    assert conn.is_connected()
    conn.disconnect()


async def test_login_timeout(quick_hub: RunningHub) -> None:
    client = await WsClient.open(quick_hub, login=None)
    error = await client.error_then_close()
    assert error.headers["message"] == "login timeout"


def test_a_slow_consumer_is_cut_off_and_nobody_else_waits(quick_hub: RunningHub) -> None:
    destination = f"/topic/slow-{uuid.uuid4().hex[:6]}"
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", quick_hub.tcp_port))
    slow.sendall(client_frame("CONNECT", {"accept-version": "1.2", "login": "slow"}))
    slow.sendall(client_frame("SUBSCRIBE", {"id": "1", "destination": destination, "receipt": "r"}))
    time.sleep(0.3)  # it now stops reading

    fast, fast_events = stomp_py(quick_hub, "tcp", "fast")
    fast.subscribe(destination, id="1", headers={"receipt": "ok"})
    fast_events.receipt()
    body = "x" * 16_000
    for number in range(400):
        fast.send(destination, body, headers={"n": str(number)})
    numbers = [int(fast_events.message(10).headers["n"]) for _ in range(400)]
    assert numbers == list(range(400))

    slow.settimeout(10)
    received = b""
    while chunk := slow.recv(1 << 20):
        received += chunk
    frames = parse_server_frames(received)
    assert frames[-1].command == "ERROR"
    assert frames[-1].headers["message"] == "slow consumer"
    assert len([f for f in frames if f.command == "MESSAGE"]) < 400
    fast.disconnect()


@pytest.fixture(scope="module")
def closed_hub(tmp_path_factory: pytest.TempPathFactory):
    tokens = tmp_path_factory.mktemp("auth") / "tokens"
    tokens.write_text("# user token roles\nalice s3cret\nbot b0t admin\n")
    with running_hub(dev_mode=False, tokens_file=tokens) as hub:
        yield hub


@pytest.mark.parametrize(("login", "passcode"), [("alice", "wrong"), (None, None), ("mallory", "s3cret")])
async def test_without_dev_mode_bad_credentials_are_refused(closed_hub: RunningHub, login, passcode) -> None:
    client = await WsClient.open(closed_hub, login=None)
    headers = {"accept-version": "1.2"} | ({"login": login, "passcode": passcode} if login else {})
    await client.send("CONNECT", headers)
    error = await client.error_then_close()
    assert error.headers["message"] == "Bad CONNECT"


def test_without_dev_mode_good_credentials_are_accepted(closed_hub: RunningHub) -> None:
    import stomp

    conn = stomp.Connection([("127.0.0.1", closed_hub.tcp_port)])
    conn.connect("demo:alice", "s3cret", wait=True)
    assert conn.is_connected()
    conn.disconnect()
    assert httpx.get(f"{closed_hub.url}/info").json()["dev_mode"] is False


def test_health_and_info(hub: RunningHub) -> None:
    assert httpx.get(f"{hub.url}/health").json()["status"] == "ok"
    info = httpx.get(f"{hub.url}/info").json()
    assert info["name"] == "hutch"
    assert info["dev_mode"] is True
    assert info["endpoints"]["websocket"] == ["/ws", "/stomp"]
    assert info["endpoints"]["stomp_tcp_port"] == hub.tcp_port
    assert "max@1" in info["rule_sets"]


async def hutch_serve(port: int, **popen: Any) -> subprocess.Popen[str]:
    """`hutch serve` in dev mode on `port`, once it answers /health."""
    hutch = Path(sys.executable).with_name("hutch")
    process = subprocess.Popen(
        [str(hutch), "serve", "--port", str(port)],
        env=os.environ | {"HUTCH_DEV_MODE": "1"},
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health")
            return process
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("hutch serve did not answer /health")


class ServedHub:
    def __init__(self, port: int):
        self.ws_url = f"ws://127.0.0.1:{port}/ws"


async def test_sigterm_tells_clients_and_exits_cleanly() -> None:
    port = free_port()
    process = await hutch_serve(port)
    try:
        client = await WsClient.open(ServedHub(port))  # type: ignore[arg-type]
        process.send_signal(signal.SIGTERM)
        error = await client.error_then_close()
        assert error.headers["message"] == "shutting down"
        # uvicorn re-raises the signal once shut down, so the exit status says "ended by SIGTERM".
        assert process.wait(15) == -signal.SIGTERM
        assert "Application shutdown complete" in process.stderr.read()
    finally:
        process.kill()


async def test_serve_holds_more_connections_than_the_shells_open_files_limit() -> None:
    """Started from a shell limited to 256 open files, the hub still takes 300 clients."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.fail(f"this machine's hard limit of {hard} open files is too low for the hub")
    port = free_port()
    process = await hutch_serve(
        port, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    )
    clients: list[WsClient] = []
    try:
        for start in range(0, 300, 50):
            clients += await asyncio.gather(
                *(WsClient.open(ServedHub(port), f"crowd{n}") for n in range(start, start + 50))  # type: ignore[arg-type]
            )
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["status"] == "ok" and health["sessions"] == 300  # every one held, open
    finally:
        for client in clients:
            await client.ws.close()
        process.kill()
