"""Hub nodes as processes of their own, on RabbitMQ and Redis: for tests that kill one."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from backends import AMQP_URL, REDIS_URL, SECRET
from hub_server import free_port

PRESENCE_TTL = 2  # seconds: a dead node's devices stay online this long


@contextmanager
def nodes(count: int, worker: bool = True, **env: str) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    """`hutch serve` processes on RabbitMQ and Redis, each with a worker (one stores at a time)
    unless `worker` is false; `env` adds to (or overrides) their environment."""
    env = (
        os.environ
        | {
            "HUTCH_JWT_SECRET": SECRET,
            "HUTCH_DEV_MODE": "0",
            "HUTCH_WORKER": str(worker).lower(),
            "HUTCH_PRESENCE_TTL": str(PRESENCE_TTL),
            "HUTCH_AMQP_URL": AMQP_URL,
            "HUTCH_REDIS_URL": REDIS_URL,
        }
        | env
    )
    hutch = Path(sys.executable).with_name("hutch")
    started = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [str(hutch), "serve", "--port", str(port), "--log-level", "warning"], env=env
        )
        started.append((process, port))
    try:
        for _, port in started:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        yield started
    finally:
        stop(process for process, _ in started)


@contextmanager
def workers(**env: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `hutch worker` processes on RabbitMQ and Redis on demand (with `env` added to the
    environment); all are stopped after."""
    started: list[subprocess.Popen[bytes]] = []
    hutch = Path(sys.executable).with_name("hutch")
    env = os.environ | {"HUTCH_DEV_MODE": "0"} | env

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([str(hutch), "worker", "--amqp", AMQP_URL, "--redis", REDIS_URL], env=env)
        started.append(process)
        return process

    try:
        yield start
    finally:
        stop(started)


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(15)
