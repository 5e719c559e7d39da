"""A `hutch serve` process logging JSON lines: each names the node, a connection's lines name the
connection and user, and no token or passcode ever reaches the log."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets
from backends import SECRET
from hub_server import free_port
from hutch.hub.auth import mint_token
from hutch.hub.logs import masked
from security.helpers import fresh


async def stomp(port: int, frames: list[str]) -> list[str]:
    """Send each frame in turn; what came back, until the hub closed or was quiet."""
    answers = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["v12.stomp"]) as ws:
        for frame in frames:
            await ws.send(frame)
            try:
                answers.append(str(await asyncio.wait_for(ws.recv(), 2)))
            except (TimeoutError, websockets.ConnectionClosed):
                break
    return answers


def test_json_lines_with_the_connection_and_user_and_no_secret(tmp_path: Path) -> None:
    ana = fresh("ana")[0]
    token = mint_token(ana, SECRET)
    port = free_port()
    log = (tmp_path / "hub.log").open("w+")
    env = os.environ | {"HUTCH_JWT_SECRET": SECRET, "HUTCH_LOG_FORMAT": "json", "HUTCH_DEV_MODE": "0"}
    hutch = Path(sys.executable).with_name("hutch")
    hub = subprocess.Popen(
        [str(hutch), "serve", "--port", str(port), "--log-level", "debug"], env=env, stderr=log, stdout=log
    )
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        connect = f"CONNECT\naccept-version:1.2\nlogin:{ana}\npasscode:{token}\n\n\x00"
        spy = "SUBSCRIBE\nid:1\ndestination:/exchange/someone.subscribe\n\n\x00"
        answers = asyncio.run(stomp(port, [connect, spy]))
        assert answers[0].startswith("CONNECTED") and answers[1].startswith("ERROR")
        forged = asyncio.run(
            stomp(port, [f"CONNECT\naccept-version:1.2\nlogin:{ana}\npasscode:{token}x\n\n\x00"])
        )
        assert forged[0].startswith("ERROR")
        httpx.get(f"http://127.0.0.1:{port}/activity?user={ana}&token={token}&context=x")
        httpx.get(f"http://127.0.0.1:{port}/api/unread", headers={"Authorization": f"Bearer {token}"})
        httpx.get(f"http://127.0.0.1:{port}/api/unread?access_token={token}")
    finally:
        hub.terminate()
        hub.wait(15)
    log.seek(0)
    text = log.read()
    assert token not in text and token.split(".")[2] not in text  # not whole, not its signature
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all(line["node"] and line["level"] and line["logger"] for line in lines)
    refused = [line for line in lines if "access refused" in line["message"]]
    assert refused and refused[0]["user"] == ana and refused[0]["connection"]
    assert any("/activity?user=" in line["message"] and "token=[masked]" in line["message"] for line in lines)


def test_secrets_are_masked_wherever_they_are_written() -> None:
    assert masked("GET /activity?user=ana&token=abc.def.ghi&context=x") == (
        "GET /activity?user=ana&token=[masked]&context=x"
    )
    assert masked("passcode:s3cret\nlogin:ana") == "passcode:[masked]\nlogin:ana"
    assert masked("Authorization: Bearer abc") == "Authorization: Bearer [masked]"
