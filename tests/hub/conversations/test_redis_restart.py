"""Redis restarted under a running hub: the hub answers 503 while it is away and recovers."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from backends import SECRET
from hub_server import free_port, running_hub
from hutch.hub.auth import mint_token

REDIS = shutil.which("redis-server")


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    assert REDIS is not None, "redis-server is needed (the CI set-up installs it)"
    process = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def test_redis_restart(tmp_path: Path) -> None:
    port = free_port()
    redis = start_redis(port, tmp_path)
    try:
        with running_hub(redis_url=f"redis://127.0.0.1:{port}/0", dev_mode=False, jwt_secret=SECRET) as hub:
            http = httpx.Client(
                base_url=f"{hub.url}/api", headers={"Authorization": f"Bearer {mint_token('ana', SECRET)}"}
            )
            created = http.post("/conversations", json={"participants": ["bob"]})
            assert created.status_code == 201
            redis.terminate()
            redis.wait(10)
            away = http.get("/conversations")
            assert away.status_code == 503 and away.json()["error"] == "ServiceUnavailable"
            redis = start_redis(port, tmp_path)  # with its append-only file: the state is kept
            listed = http.get("/conversations")
            assert listed.status_code == 200
            assert [c["id"] for c in listed.json()] == [created.json()["id"]]
    finally:
        redis.kill()


pytestmark = pytest.mark.timeout(120)
