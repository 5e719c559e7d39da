"""Redis with Sentinel of a test's own: a primary, a replica and three sentinels on loopback, on
free ports and in a directory of their own, all stopped and removed after. Never the machine's
shared Redis."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from hub_server import free_port

SERVICE = "hutch"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class SentinelSet:
    primary: int  # ports
    replica: int
    sentinels: list[int]
    base: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def setting(self) -> str:
        """HUTCH_REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinels)

    def primary_now(self) -> int:
        """The port of the primary the sentinels name now."""
        client = redis.Redis(port=self.sentinels[0], decode_responses=True, socket_timeout=2)
        _, port = client.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait(10)

    def restart(self, port: int) -> None:
        """Start a killed server again: the sentinels make it a replica of the primary now."""
        self.processes[port] = _server(self.base, port)


@contextlib.contextmanager
def redis_sentinel_set() -> Iterator[SentinelSet]:
    assert Path(REDIS_SERVER).exists(), "redis-server is needed (the CI set-up installs it)"
    base = Path(tempfile.mkdtemp(prefix="hutch-redis-"))
    found = SentinelSet(free_port(), free_port(), [free_port() for _ in range(3)], base)
    try:
        found.processes[found.primary] = _server(base, found.primary)
        found.processes[found.replica] = _server(
            base, found.replica, "--replicaof", "127.0.0.1", str(found.primary)
        )
        _until(lambda: _replication(found.replica).get("master_link_status") == "up", "the replica to sync")
        for port in found.sentinels:
            config = base / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {base}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {found.primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
            found.processes[port] = subprocess.Popen(
                [REDIS_SERVER, str(config), "--sentinel"], stdout=subprocess.DEVNULL, cwd=base
            )
        _until(
            lambda: all(_knows_replica(port) for port in found.sentinels), "the sentinels to find the replica"
        )
        yield found
    finally:
        for process in found.processes.values():
            process.kill()
            process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def lone_redis() -> Iterator[int]:
    """A Redis of the test's own, with nothing in it (no scripts loaded either): its port."""
    assert Path(REDIS_SERVER).exists(), "redis-server is needed (the CI set-up installs it)"
    base, port = Path(tempfile.mkdtemp(prefix="hutch-redis-")), free_port()
    process = _server(base, port)
    try:
        yield port
    finally:
        process.kill()
        process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _server(base: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory = base / str(port)
    directory.mkdir(exist_ok=True)
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _until(lambda: _answers(port), f"redis-server on {port}")
    return process


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _replication(port: int) -> dict[str, object]:
    try:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=1).info("replication")
    except redis.RedisError:
        return {}


def _knows_replica(port: int) -> bool:
    try:
        client = redis.Redis(port=port, decode_responses=True, socket_timeout=1)
        return bool(client.sentinel_slaves(SERVICE))
    except redis.RedisError:
        return False


def _until(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {timeout} s for {what}")
        time.sleep(0.1)
